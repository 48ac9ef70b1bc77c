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
    queue_redis_url: str | None = None
    """The job queue's Redis; ``redis_url`` when unset (it must not be a cluster)."""
    redis_wait_replicas: int = 0
    """A batch is answered 202 only once this many replicas have it (Redis ``WAIT``)."""
    redis_wait_timeout_ms: int = 1000
    database_url: str | None = None
    database_read_url: str | None = None
    """A streaming replica of ``database_url`` for the learner reads."""
    data_dir: Path = Path(".waymark")
    workers: int = 2
    http_processes: int = 1
    """``waymark up`` runs this many HTTP servers on one port (SO_REUSEPORT when above 1)."""
    worker_concurrency: int = 4
    worker_metrics_port: int = 9100
    metrics_listen: str = "127.0.0.1:9464"
    """``host:port`` of ``waymark serve``'s own ``/metrics`` listener, or ``api`` (the API port)."""
    api_keys: tuple[ApiKey, ...] = ()
    merge_window_ms: int = 2000
    flush_batch: int = 1000
    flush_min_keys: int = 250
    """A shard's due keys wait (at most ``flush_linger_ms``) until this many are due: a larger
    batch costs less per key to apply."""
    flush_linger_ms: int = 500
    dedup_window_s: int = 3600
    session_gap_s: int = 1800
    """Two of a learner's events further apart than this start a new session."""
    at_risk_days: int = 14
    """A learner without activity in a course for this many days, not completed, is at risk."""
    shards: int = 16
    replay_retention_s: int = 900
    """How long each applied batch stays in Redis for ``waymark replay`` (0: not kept)."""
    lease_s: int = 30
    high_water_keys: int = 500_000
    max_body_bytes: int = 1024 * 1024
    max_events: int = 1000
    max_event_bytes: int = 32 * 1024
    catalog_cache_s: float = 5.0
    scheduler_interval_ms: int = 100
    user_token_secrets: tuple[str, ...] = field(default=(), repr=False)
    user_token_audience: str | None = None
    user_token_jwks: Path | None = None
    """A JWKS file of the platform's RS256 / EdDSA public keys that verify user tokens."""
    cert_signing_key: str | None = field(default=None, repr=False)
    """Base64url Ed25519 private key that signs certificates; none: no certificate is issued."""
    cert_retired_keys: tuple[str, ...] = ()
    """Base64url public keys of earlier signing keys: still served, still verify."""
    cors_origins: tuple[str, ...] = ()
    """Exact origins whose pages may call /v1 from a browser (``ingest.cors``)."""
    rate_limit_key_rps: int = 5000
    rate_limit_key_burst: int = 10000
    rate_limit_user_rps: int = 10
    rate_limit_user_burst: int = 50
    rate_limit_public_rps: int = 5
    """Per client address, on the public certificate verify route."""
    rate_limit_public_burst: int = 20
    body_timeout_s: float = 30.0
    log_level: str = "info"
    log_format: str = "auto"
    max_tries: int = 5
    shutdown_s: int = 15
    durability: str = "everysec"
    events_stream: str = "waymark:events"
    """Redis Stream the domain events are relayed to."""
    monitor_interval_s: float = 5.0
    monitor_port: int = 9290
    alert_window_s: float = 300.0
    alert_queue_depth: float = 100_000
    alert_oldest_pending_s: float = 60.0
    alert_ingest_error_rate: float = 0.05
    alert_flush_error_rate: float = 0.05
    alert_dead_letters: float = 0
    alert_heartbeat_age_s: float = 30.0
    alert_lag_p99_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``WAYMARK_*``, ``REDIS_URL`` and ``DATABASE_URL``."""
        e = os.environ if env is None else env
        d = cls()
        ints = {
            "http_port": "WAYMARK_HTTP_PORT",
            "workers": "WAYMARK_WORKERS",
            "http_processes": "WAYMARK_HTTP_PROCESSES",
            "worker_concurrency": "WAYMARK_WORKER_CONCURRENCY",
            "worker_metrics_port": "WAYMARK_WORKER_METRICS_PORT",
            "merge_window_ms": "WAYMARK_MERGE_WINDOW_MS",
            "flush_batch": "WAYMARK_FLUSH_BATCH",
            "flush_min_keys": "WAYMARK_FLUSH_MIN_KEYS",
            "flush_linger_ms": "WAYMARK_FLUSH_LINGER_MS",
            "dedup_window_s": "WAYMARK_DEDUP_WINDOW_S",
            "session_gap_s": "WAYMARK_SESSION_GAP_S",
            "at_risk_days": "WAYMARK_AT_RISK_DAYS",
            "shards": "WAYMARK_SHARDS",
            "replay_retention_s": "WAYMARK_REPLAY_RETENTION_S",
            "lease_s": "WAYMARK_LEASE_S",
            "high_water_keys": "WAYMARK_HIGH_WATER_KEYS",
            "max_body_bytes": "WAYMARK_MAX_BODY_BYTES",
            "max_events": "WAYMARK_MAX_EVENTS",
            "max_event_bytes": "WAYMARK_MAX_EVENT_BYTES",
            "scheduler_interval_ms": "WAYMARK_SCHEDULER_INTERVAL_MS",
            "max_tries": "WAYMARK_MAX_TRIES",
            "shutdown_s": "WAYMARK_SHUTDOWN_S",
            "redis_wait_replicas": "WAYMARK_REDIS_WAIT_REPLICAS",
            "redis_wait_timeout_ms": "WAYMARK_REDIS_WAIT_TIMEOUT_MS",
        }
        values: dict[str, object] = {}
        for attr, var in ints.items():
            if var in e:
                zero_ok = attr in ("merge_window_ms", "redis_wait_replicas", "replay_retention_s",
                                   "flush_linger_ms")
                values[attr] = _positive_int(var, e[var], allow_zero=zero_ok)
        for var in PORTS:
            if var in e and _positive_int(var, e[var]) > MAX_PORT:
                raise SettingsError(f"{var} must be a TCP port (1-{MAX_PORT}), got {e[var]!r}")
        if "WAYMARK_CATALOG_CACHE_S" in e:
            cache_s = _non_negative_float("WAYMARK_CATALOG_CACHE_S", e["WAYMARK_CATALOG_CACHE_S"])
            values["catalog_cache_s"] = cache_s
        if "WAYMARK_MONITOR_PORT" in e:
            port = e["WAYMARK_MONITOR_PORT"]
            values["monitor_port"] = _positive_int("WAYMARK_MONITOR_PORT", port)
        for attr, var in MONITOR_FLOATS.items():
            if var in e:
                values[attr] = _non_negative_float(var, e[var])
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
        if e.get("DATABASE_READ_URL"):
            values["database_read_url"] = e["DATABASE_READ_URL"]
        if e.get("WAYMARK_QUEUE_REDIS_URL"):
            values["queue_redis_url"] = e["WAYMARK_QUEUE_REDIS_URL"]
        if e.get("DATABASE_URL"):
            values["database_url"] = e["DATABASE_URL"]
        if e.get("WAYMARK_DATA_DIR"):
            values["data_dir"] = Path(e["WAYMARK_DATA_DIR"])
        if e.get("WAYMARK_EVENTS_STREAM"):
            values["events_stream"] = e["WAYMARK_EVENTS_STREAM"]
        if e.get("WAYMARK_DURABILITY"):
            if e["WAYMARK_DURABILITY"] not in ("everysec", "strict"):
                raise SettingsError("WAYMARK_DURABILITY must be everysec or strict")
            values["durability"] = e["WAYMARK_DURABILITY"]
        if e.get("WAYMARK_API_KEYS"):
            values["api_keys"] = parse_api_keys(e["WAYMARK_API_KEYS"])
        if e.get("WAYMARK_METRICS_LISTEN"):
            values["metrics_listen"] = parse_metrics_listen(e["WAYMARK_METRICS_LISTEN"])
        values.update(_security_values(e))
        flush_batch = int(str(values.get("flush_batch", d.flush_batch)))
        if flush_batch > MAX_FLUSH_BATCH:
            raise SettingsError(f"WAYMARK_FLUSH_BATCH must be at most {MAX_FLUSH_BATCH}")
        if int(str(values.get("flush_min_keys", d.flush_min_keys))) > flush_batch:
            raise SettingsError("WAYMARK_FLUSH_MIN_KEYS must be at most WAYMARK_FLUSH_BATCH")
        if int(str(values.get("max_events", d.max_events))) > MAX_EVENTS_PER_BATCH:
            raise SettingsError(f"WAYMARK_MAX_EVENTS must be at most {MAX_EVENTS_PER_BATCH}")
        if values.get("log_format", d.log_format) not in {"auto", "json", "console"}:
            raise SettingsError("WAYMARK_LOG_FORMAT must be auto, json or console")
        return dataclasses.replace(d, **values)  # type: ignore[arg-type]

    @property
    def queue_url(self) -> str | None:
        """Where the job queue lives: its own Redis, else the buffer's."""
        return self.queue_redis_url or self.redis_url

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where ``waymark serve`` listens for ``/metrics``; ``None``: on the API port."""
        if self.metrics_listen == METRICS_ON_API:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def metrics_host(self) -> str:
        """The address every metrics server binds (workers and monitor too)."""
        address = self.metrics_address
        return self.http_host if address is None else address[0]

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


METRICS_ON_API = "api"


def parse_metrics_listen(value: str) -> str:
    """``host:port`` (``[::1]:9464`` for IPv6) or ``api``; anything else is refused."""
    value = value.strip()
    if value == METRICS_ON_API:
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise SettingsError(
            f"WAYMARK_METRICS_LISTEN must be host:port (port 1-{MAX_PORT}) or api, got {value!r}")
    return value


def parse_api_keys(spec: str) -> tuple[ApiKey, ...]:
    """Parse ``name:secret:scope+scope,...``."""
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


MAX_PORT = 65535
PORTS = ("WAYMARK_HTTP_PORT", "WAYMARK_WORKER_METRICS_PORT", "WAYMARK_MONITOR_PORT")

MONITOR_FLOATS = {
    "monitor_interval_s": "WAYMARK_MONITOR_INTERVAL_S",
    "alert_window_s": "WAYMARK_ALERT_WINDOW_S",
    "alert_queue_depth": "WAYMARK_ALERT_QUEUE_DEPTH",
    "alert_oldest_pending_s": "WAYMARK_ALERT_OLDEST_PENDING_S",
    "alert_ingest_error_rate": "WAYMARK_ALERT_INGEST_ERROR_RATE",
    "alert_flush_error_rate": "WAYMARK_ALERT_FLUSH_ERROR_RATE",
    "alert_dead_letters": "WAYMARK_ALERT_DEAD_LETTERS",
    "alert_heartbeat_age_s": "WAYMARK_ALERT_HEARTBEAT_AGE_S",
    "alert_lag_p99_s": "WAYMARK_ALERT_LAG_P99_S",
}
"""Monitoring settings read as numbers ≥ 0: the sampler's period and the alert thresholds."""


def _non_negative_float(var: str, value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise SettingsError(f"{var} must be a number, got {value!r}") from None
    if not n >= 0 or n == float("inf"):
        raise SettingsError(f"{var} must be a finite number >= 0, got {value!r}")
    return n


RATE_LIMITS = {
    "rate_limit_key_rps": "WAYMARK_RATE_LIMIT_KEY_RPS",
    "rate_limit_key_burst": "WAYMARK_RATE_LIMIT_KEY_BURST",
    "rate_limit_user_rps": "WAYMARK_RATE_LIMIT_USER_RPS",
    "rate_limit_user_burst": "WAYMARK_RATE_LIMIT_USER_BURST",
    "rate_limit_public_rps": "WAYMARK_RATE_LIMIT_PUBLIC_RPS",
    "rate_limit_public_burst": "WAYMARK_RATE_LIMIT_PUBLIC_BURST",
}
"""Requests per second and burst, per API key and per user token; a rate of 0 turns it off."""
MIN_TOKEN_SECRET_BYTES = 32
"""HS256 wants a key of at least the hash size (RFC 7518 §3.2)."""


def _security_values(e: Mapping[str, str]) -> dict[str, object]:
    """User-token secrets and audience, rate limits, the body read deadline."""
    values: dict[str, object] = {}
    if e.get("WAYMARK_USER_TOKEN_SECRET"):
        values["user_token_secrets"] = parse_token_secrets(e["WAYMARK_USER_TOKEN_SECRET"])
    if e.get("WAYMARK_USER_TOKEN_JWKS"):
        from ingest.tokens import load_jwks  # a file that is not a usable JWKS stops the start

        jwks = Path(e["WAYMARK_USER_TOKEN_JWKS"])
        load_jwks(jwks)
        values["user_token_jwks"] = jwks
    if e.get("WAYMARK_USER_TOKEN_AUDIENCE"):
        values["user_token_audience"] = e["WAYMARK_USER_TOKEN_AUDIENCE"]
    values.update(_certificate_keys(e))
    if e.get("WAYMARK_CORS_ORIGINS"):
        values["cors_origins"] = tuple(o.strip() for o in e["WAYMARK_CORS_ORIGINS"].split(","))
    for attr, var in RATE_LIMITS.items():
        if var in e:
            values[attr] = _positive_int(var, e[var], allow_zero=attr.endswith("_rps"))
    if "WAYMARK_BODY_TIMEOUT_S" in e:
        try:
            timeout = float(e["WAYMARK_BODY_TIMEOUT_S"])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout < 3600:
            raise SettingsError("WAYMARK_BODY_TIMEOUT_S must be a number of seconds in (0, 3600)")
        values["body_timeout_s"] = timeout
    return values


def _certificate_keys(e: Mapping[str, str]) -> dict[str, object]:
    """The certificate signing key and retired public keys, checked to be Ed25519 keys."""
    from aggregator.signing import SigningKeyError, load_signer

    key = e.get("WAYMARK_CERT_SIGNING_KEY", "").strip()
    retired = tuple(k.strip() for k in e.get("WAYMARK_CERT_RETIRED_KEYS", "").split(",")
                    if k.strip())
    if not key:
        if retired:
            raise SettingsError("WAYMARK_CERT_RETIRED_KEYS needs WAYMARK_CERT_SIGNING_KEY")
        return {}
    try:
        load_signer(key, retired)
    except SigningKeyError as error:
        raise SettingsError(f"WAYMARK_CERT_SIGNING_KEY / _RETIRED_KEYS: {error}") from None
    return {"cert_signing_key": key, "cert_retired_keys": retired}


def parse_token_secrets(spec: str) -> tuple[str, ...]:
    """``new[,old]``: the first signs nothing here but both verify, for a rollover."""
    secrets = tuple(s.strip() for s in spec.split(",") if s.strip())
    if not 1 <= len(secrets) <= 2:
        raise SettingsError("WAYMARK_USER_TOKEN_SECRET holds one secret, or two during a rollover")
    if any(len(s.encode()) < MIN_TOKEN_SECRET_BYTES for s in secrets):
        raise SettingsError(
            f"WAYMARK_USER_TOKEN_SECRET: each secret needs at least {MIN_TOKEN_SECRET_BYTES} bytes"
        )
    return secrets


def _positive_int(var: str, value: str, *, allow_zero: bool = False) -> int:
    try:
        n = int(value)
    except ValueError:
        raise SettingsError(f"{var} must be an integer, got {value!r}") from None
    if n < 0 or (n == 0 and not allow_zero):
        raise SettingsError(f"{var} must be positive, got {n}")
    return n
