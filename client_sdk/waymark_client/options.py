"""Every knob of the SDK, with its default, as one frozen value checked once at construction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from waymark_client.wire import Event

from .errors import WaymarkClientError

# The server's limits. A batch stays well under the body limit because the
# envelope, msgpack/JSON differences and a server configured a bit lower must all fit.
SERVER_MAX_BODY = 1024 * 1024
SERVER_MAX_EVENTS = 1000
SERVER_MAX_EVENT_BYTES = 32 * 1024

ErrorCallback = Callable[[WaymarkClientError, Sequence[Event]], None]
OnFull = Literal["drop", "block"]
WireFormat = Literal["json", "msgpack"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Settings shared by ``ProgressClient`` and ``AsyncProgressClient`` (see README)."""

    api_key: str = field(repr=False)  # a secret: kept out of reprs and so out of logs
    base_url: str = "http://127.0.0.1:8080"
    flush_at: int = 100
    flush_interval: float = 5.0
    max_batch_bytes: int = 512 * 1024
    max_queue_size: int = 10_000
    on_full: OnFull = "drop"
    block_timeout: float = 1.0
    timeout: float = 10.0
    retry_budget: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    gzip_threshold: int | None = 1024
    wire_format: WireFormat = "json"
    merge_progress: bool = True
    merge_window: float = 60.0
    spool_path: str | None = None
    shutdown_timeout: float = 5.0
    on_error: ErrorCallback | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if not 1 <= self.flush_at <= SERVER_MAX_EVENTS:
            raise ValueError(f"flush_at must be within 1..{SERVER_MAX_EVENTS}")
        if not SERVER_MAX_EVENT_BYTES <= self.max_batch_bytes <= SERVER_MAX_BODY // 2:
            raise ValueError(
                f"max_batch_bytes must be within {SERVER_MAX_EVENT_BYTES}..{SERVER_MAX_BODY // 2}"
            )
        if self.max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        if self.on_full not in ("drop", "block"):
            raise ValueError("on_full must be 'drop' or 'block'")
        if self.wire_format not in ("json", "msgpack"):
            raise ValueError("wire_format must be 'json' or 'msgpack'")
        for name in ("flush_interval", "timeout", "backoff_base", "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "block_timeout",
            "retry_budget",
            "retry_after_max",
            "merge_window",
            "shutdown_timeout",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
