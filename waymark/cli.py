"""The ``waymark`` command: the one wiring point where settings are read from the environment.

``up`` runs the whole stack for development and ``stack`` only its embedded servers (both in
``devstack.stack``: embedded Redis and PostgreSQL unless their URLs are set, migrations, a
development key, the ingest server and the workers, each restarted when it dies). ``serve``,
``worker``, ``monitor`` and ``migrate`` are the production entry points, pointed at external
servers by ``REDIS_URL`` / ``DATABASE_URL``. Subcommands import the packages they run only when
chosen, so ``waymark config`` works without a database driver's import cost.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence

import structlog

from devstack.processes import DevstackError
from devstack.stack import dev_key, run_stack, run_up
from waymark.logs import configure_logging, mask_url
from waymark.runtime import tune_gc
from waymark.settings import Settings, SettingsError

log = structlog.get_logger()

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run a ``waymark`` subcommand; return the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        code: int = args.run(args, settings)
    except SettingsError as e:
        print(f"waymark: {e}", file=sys.stderr)
        return EXIT_USAGE
    except DevstackError as e:
        log.error("stack_failed", error=str(e))
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waymark", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="run the whole stack for development")
    up.set_defaults(run=_up)
    serve = commands.add_parser("serve", help="run the ingest HTTP server")
    serve.add_argument("--dev", action="store_true", help="use the development key if none set")
    serve.add_argument("--index", type=int, default=0,
                       help="this server's number, from 0: its metrics port is the listen port + N")
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run one worker process")
    worker.add_argument("--index", type=int, default=0, help="this worker's number, from 0")
    worker.set_defaults(run=_worker)
    monitor = commands.add_parser("monitor", help="run the queue sampler and alert evaluation")
    monitor.set_defaults(run=_monitor)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    commands.add_parser("config", help="print the effective settings").set_defaults(run=_config)
    dead = commands.add_parser("dead-letters", help="list, show or requeue dead-lettered batches")
    dead.add_argument("action", choices=["list", "show", "requeue"])
    dead.add_argument("id", nargs="?", help="a dead-letter id, or 'all'")
    dead.set_defaults(run=_dead_letters)
    commands.add_parser(
        "replay", help="after a database restore: apply again the batches it lost"
    ).set_defaults(run=_replay)
    stack = commands.add_parser("stack", help="run only the embedded Redis and PostgreSQL")
    stack.set_defaults(run=_stack)
    return parser


def _up(args: argparse.Namespace, settings: Settings) -> int:
    return run_up(settings)


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    return run_stack(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.api_keys:
        if not args.dev:
            print(
                "waymark serve: WAYMARK_API_KEYS is not set (name:secret:scope+scope,...); "
                "pass --dev to use the development key",
                file=sys.stderr,
            )
            return EXIT_USAGE
        settings = settings.replace(api_keys=(dev_key(settings),))
    if not _require_urls(settings, "serve"):
        return EXIT_USAGE
    from ingest.app import run

    tune_gc()
    run(settings, index=args.index)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_urls(settings, "worker"):
        return EXIT_USAGE
    from workers.main import run

    tune_gc()
    run(settings, index=args.index)
    return 0


def _monitor(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_urls(settings, "monitor"):
        return EXIT_USAGE
    from monitoring.monitor import run

    run(settings)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url is None:
        print("waymark migrate: DATABASE_URL is not set", file=sys.stderr)
        return EXIT_USAGE
    for version in _apply_migrations(settings.database_url):
        print(version)
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not _require_urls(settings, "replay"):
        return EXIT_USAGE
    from workers.replay import ReplayRefused, replay

    try:
        report = asyncio.run(replay(settings))
    except ReplayRefused as e:
        print(f"waymark replay: {e}", file=sys.stderr)
        return 1
    print(f"retained batches: {report.retained}; applied again: {report.applied}; "
          f"already in the database: {report.already}; "
          f"domain events already in the stream: {report.marked}; "
          f"keys that failed again: {report.failed_keys}")
    return 1 if report.failed_keys else 0


def _dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is None:
        print("waymark dead-letters: REDIS_URL is not set", file=sys.stderr)
        return EXIT_USAGE
    if args.action != "list" and not args.id:
        print(f"waymark dead-letters {args.action}: give an id or 'all'", file=sys.stderr)
        return EXIT_USAGE
    from workers import deadletters

    return asyncio.run(deadletters.run(settings, args.action, args.id))


def _config(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in masked_settings(settings).items():
        print(f"{name} = {value}")
    return 0


def masked_settings(settings: Settings) -> dict[str, str]:
    """Every setting as text, with secrets and URL passwords replaced by ``***``."""
    shown: dict[str, str] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name == "api_keys":
            text = ",".join(f"{k.name}:***:{'+'.join(sorted(k.scopes))}" for k in value)
        elif not field.repr or any(w in field.name for w in ("secret", "password", "token")):
            text = "***" if value else ""
        elif field.name.endswith("_url") and value:
            text = mask_url(value)
        else:
            text = "" if value is None else str(value)
        shown[field.name] = text or "(unset)"
    return shown


def _apply_migrations(dsn: str) -> list[str]:
    from aggregator.db import migrate

    applied = asyncio.run(migrate(dsn))
    log.info("migrations_applied", versions=applied)
    return applied


def _require_urls(settings: Settings, command: str) -> bool:
    urls = {"REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url}
    missing = [var for var, value in urls.items() if not value]
    if missing:
        print(f"waymark {command}: {' and '.join(missing)} must be set", file=sys.stderr)
    return not missing
