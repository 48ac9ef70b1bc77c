"""Blocking HTTP for ``ProgressClient``: stdlib ``http.client``, one keep-alive connection.

Used by the sender thread only. A connection that fails is dropped and a fresh one is made for
the next attempt; retry timing is the caller's business (``delivery.Delivery``).
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse

from .delivery import Answer
from .options import ClientOptions

USER_AGENT = "waymark-client-python/0.1"

NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException)
"""What a failed request can raise (timeouts are ``OSError``s)."""


class HttpTransport:
    """POSTs batches to ``{base_url}/v1/events``."""

    def __init__(self, options: ClientOptions) -> None:
        url = urllib.parse.urlsplit(options.base_url)
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._path = url.path.rstrip("/") + "/v1/events"
        self._timeout = options.timeout
        self._auth = f"Bearer {options.api_key}"
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """One attempt; raises one of ``NETWORK_ERRORS`` when no answer came."""
        reused = self._conn is not None
        try:
            return self._post_once(body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise
        # The server closed an idle keep-alive connection under us: that is not a failure of
        # the server, so try once more on a fresh connection before reporting an error.
        return self._post_once(body, headers)

    def _post_once(self, body: bytes, headers: dict[str, str]) -> Answer:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            conn.request(
                "POST",
                self._path,
                body=body,
                headers={**headers, "Authorization": self._auth, "User-Agent": USER_AGENT},
            )
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return Answer(
            status=resp.status,
            body=data,
            content_type=resp.getheader("Content-Type"),
            retry_after=resp.getheader("Retry-After"),
        )

    def close(self) -> None:
        """Drop the connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
