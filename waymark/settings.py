"""Settings: one frozen object built once from the environment in an entry point.

Library modules never read ``os.environ``; they receive a ``Settings``. Every variable is listed
with its default in the README's configuration table (``waymark config`` prints the live values).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCOPES = frozenset({"ingest", "read", "admin"})
MAX_FLUSH_BATCH = 3000
"""A drained batch moves 2 values per key through one Lua call (Lua's stack holds ~8000)."""
MAX_EVENTS_PER_BATCH = 5000


class SettingsError(ValueError):
    """A WAYMARK_* variable has a value that cannot be used."""

    code = "invalid_settings"


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    secret: str = field(repr=False)
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Settings:
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    redis_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path(".waymark")
    workers: int = 2
    worker_concurrency: int = 4
    worker_metrics_port: int = 9100
    api_keys: tuple[ApiKey, ...] = ()
    merge_window_ms: int = 2000
    flush_batch: int = 1000
    dedup_window_s: int = 3600
    shards: int = 16
    lease_s: int = 30
    high_water_keys: int = 500_000
    max_body_bytes: int = 1024 * 1024
    max_events: int = 1000
    max_event_bytes: int = 32 * 1024
    catalog_cache_s: float = 5.0
    scheduler_interval_ms: int = 100
    log_level: str = "info"
    log_format: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``WAYMARK_*``, ``REDIS_URL`` and ``DATABASE_URL``."""
        e = os.environ if env is None else env
        d = cls()
        ints = {
            "http_port": "WAYMARK_HTTP_PORT",
            "workers": "WAYMARK_WORKERS",
            "worker_concurrency": "WAYMARK_WORKER_CONCURRENCY",
            "worker_metrics_port": "WAYMARK_WORKER_METRICS_PORT",
            "merge_window_ms": "WAYMARK_MERGE_WINDOW_MS",
            "flush_batch": "WAYMARK_FLUSH_BATCH",
            "dedup_window_s": "WAYMARK_DEDUP_WINDOW_S",
            "shards": "WAYMARK_SHARDS",
            "lease_s": "WAYMARK_LEASE_S",
            "high_water_keys": "WAYMARK_HIGH_WATER_KEYS",
            "max_body_bytes": "WAYMARK_MAX_BODY_BYTES",
            "max_events": "WAYMARK_MAX_EVENTS",
            "max_event_bytes": "WAYMARK_MAX_EVENT_BYTES",
            "scheduler_interval_ms": "WAYMARK_SCHEDULER_INTERVAL_MS",
        }
        values: dict[str, object] = {}
        for attr, var in ints.items():
            if var in e:
                values[attr] = _positive_int(var, e[var], allow_zero=attr == "merge_window_ms")
        if "WAYMARK_CATALOG_CACHE_S" in e:
            values["catalog_cache_s"] = float(e["WAYMARK_CATALOG_CACHE_S"])
        strs = {
            "http_host": "WAYMARK_HTTP_HOST",
            "log_level": "WAYMARK_LOG_LEVEL",
            "log_format": "WAYMARK_LOG_FORMAT",
        }
        for attr, var in strs.items():
            if e.get(var):
                values[attr] = e[var]
        if e.get("REDIS_URL"):
            values["redis_url"] = e["REDIS_URL"]
        if e.get("DATABASE_URL"):
            values["database_url"] = e["DATABASE_URL"]
        if e.get("WAYMARK_DATA_DIR"):
            values["data_dir"] = Path(e["WAYMARK_DATA_DIR"])
        if e.get("WAYMARK_API_KEYS"):
            values["api_keys"] = parse_api_keys(e["WAYMARK_API_KEYS"])
        if int(str(values.get("flush_batch", d.flush_batch))) > MAX_FLUSH_BATCH:
            raise SettingsError(f"WAYMARK_FLUSH_BATCH must be at most {MAX_FLUSH_BATCH}")
        if int(str(values.get("max_events", d.max_events))) > MAX_EVENTS_PER_BATCH:
            raise SettingsError(f"WAYMARK_MAX_EVENTS must be at most {MAX_EVENTS_PER_BATCH}")
        if values.get("log_format", d.log_format) not in {"auto", "json", "console"}:
            raise SettingsError("WAYMARK_LOG_FORMAT must be auto, json or console")
        return dataclasses.replace(d, **values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def parse_api_keys(spec: str) -> tuple[ApiKey, ...]:
    """Parse ``name:secret:scope+scope,...`` (SPEC §3)."""
    keys: list[ApiKey] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            raise SettingsError("WAYMARK_API_KEYS entries are name:secret:scope+scope")
        name, secret, scope_list = parts
        scopes = frozenset(scope_list.split("+"))
        unknown = scopes - SCOPES
        if unknown:
            raise SettingsError(f"API key {name!r} has unknown scopes {sorted(unknown)}")
        keys.append(ApiKey(name=name, secret=secret, scopes=scopes))
    return tuple(keys)


def format_api_keys(keys: tuple[ApiKey, ...]) -> str:
    return ",".join(f"{k.name}:{k.secret}:{'+'.join(sorted(k.scopes))}" for k in keys)


def _positive_int(var: str, value: str, *, allow_zero: bool = False) -> int:
    try:
        n = int(value)
    except ValueError:
        raise SettingsError(f"{var} must be an integer, got {value!r}") from None
    if n < 0 or (n == 0 and not allow_zero):
        raise SettingsError(f"{var} must be positive, got {n}")
    return n
