"""Logging: structlog configured once per process, by the entry point.

Lines are JSON objects when stderr is not a terminal (or ``WAYMARK_LOG_FORMAT=json``), so log
shippers get fields, and readable console lines at a terminal. Records of the standard library's
``logging`` (aiohttp, arq, asyncpg) go through the same processors, so one process writes one
format. Timestamps are ISO 8601 in UTC; values bound with ``structlog.contextvars`` (request or
batch ids) are merged into every line.
"""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlsplit, urlunsplit

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import Processor

from waymark.settings import Settings, SettingsError

_TRACEBACKS = structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
"""Tracebacks as data, without frame locals: a local may hold a bearer token or a secret."""


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the standard library's root logger from ``settings``."""
    level = _level(settings.log_level)
    as_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    render: list[Processor] = (
        [_TRACEBACKS, structlog.processors.JSONRenderer()]
        if as_json
        else [structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *render],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        # Loggers are resolved once; the per-call cost is then the processors only.
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def mask_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: how a URL may appear in a log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _level(name: str) -> int:
    levels = logging.getLevelNamesMapping()
    try:
        return levels[name.upper()]
    except KeyError:
        raise SettingsError(
            f"WAYMARK_LOG_LEVEL must be debug, info, warning or error, got {name!r}"
        ) from None
