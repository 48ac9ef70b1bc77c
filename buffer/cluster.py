"""The merge buffer on a Redis Cluster, and replica acknowledgement (``WAIT``) on any Redis.

Every key of one shard shares the hash tag ``{wm.N}`` (``buffer.keys``), so each script runs in
one slot, on the master that serves it. What a single Redis does in one script call for all the
shards a request touches cannot span masters, so on a cluster a request is written shard by
shard, concurrently, each shard's merge atomic on its own. If one shard's write fails the
request is answered 503 while other shards may already hold their events; a retry of the same
batch is safe because every event is deduplicated by its id (those events count as duplicates
in the retry's answer, and are stored once).

With ``WAYMARK_REDIS_WAIT_REPLICAS=N`` a shard's write is followed, on the same connection, by
``WAIT N timeout``: Redis answers once N replicas have everything that connection wrote. Fewer
than N in time raises ``NotReplicated`` (a 503 whose retry is safe, as above); the events stay
in the master's buffer and are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ConnectionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

RedisClient: TypeAlias = Redis | RedisCluster
"""A single Redis or a cluster: the buffer speaks to both."""

ATTEMPTS = 3
"""Tries of one shard's write through a slot moving to another master (failover, resharding)."""


class NotReplicated(RedisError):
    """Fewer replicas than asked confirmed a write within the timeout."""


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    """``WAIT replicas timeout_ms`` after each write; ``replicas == 0`` waits for none."""

    replicas: int = 0
    timeout_ms: int = 1000

    def check(self, confirmed: int) -> None:
        if confirmed < self.replicas:
            raise NotReplicated(
                f"{confirmed} of {self.replicas} replicas confirmed the write in "
                f"{self.timeout_ms} ms"
            )


class _FailoverSafe:
    """redis-py 5's cluster client lets some failures out as non-Redis errors.

    While a master fails over it raises ``AttributeError`` (a connection torn down under a
    concurrent command, a default node gone) and, when no node answers, ``RedisClusterException``;
    both would reach a handler as a 500. Here they come out as ``ConnectionError``, which every
    caller already answers with 503 or retries.
    """

    @staticmethod
    def convert(e: Exception) -> ConnectionError:
        return ConnectionError(f"the Redis Cluster failed: {e!r}")


class SafePipeline(ClusterPipeline):
    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except (RedisClusterException, AttributeError) as e:
            raise _FailoverSafe.convert(e) from e


class SafeCluster(RedisCluster):
    """The cluster client Waymark opens (``waymark.bootstrap``): failures are ``RedisError``."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except (RedisClusterException, AttributeError) as e:
            raise _FailoverSafe.convert(e) from e

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if transaction or shard_hint:
            raise RedisClusterException("transaction and shard_hint are not supported")
        return SafePipeline(self)  # type: ignore[abstract]  # as redis-py builds its own


def register_script(redis: RedisClient, text: str) -> AsyncScript:
    """``text`` as a script object of ``redis`` (a cluster client's too, as redis-py builds it)."""
    return AsyncScript(cast(Redis, redis), text)  # typed for Redis; it takes either client


async def run_packed(
    redis: Redis, script: AsyncScript, keys: Sequence[str], args: Sequence[Any],
) -> Any:
    """Run ``script`` once, its ``EVALSHA`` packed by hiredis and sent on a pooled connection.

    redis-py packs a command argument by argument in Python, which cost the HTTP server as much
    CPU as the rest of the round trip (a request's merge passes ~20 arguments per shard it
    touches). A script missing from Redis (restarted or flushed since it was loaded) runs again
    through the script object, which loads it.
    """
    packed = hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
    try:
        return await _command(redis, packed)
    except NoScriptError:
        return await script(keys=keys, args=args)


async def _command(redis: Redis, packed: bytes) -> Any:
    """Send one packed command and read its reply (an error reply raises)."""
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(packed)
        return await conn.read_response()
    except ResponseError:
        raise  # the error reply was read whole: the connection is in step
    except BaseException:
        await conn.disconnect()  # its reply may be left unread on it
        raise
    finally:
        await pool.release(conn)


async def is_cluster(url: str, *, timeout_s: float = 5.0) -> bool:
    """Whether the Redis at ``url`` is a node of a Redis Cluster."""
    async with Redis.from_url(url, socket_timeout=timeout_s) as probe:
        info = await probe.info("cluster")
    return bool(info.get("cluster_enabled"))


class MasterClients:
    """A plain client per master of a cluster: a script and its ``WAIT`` on one connection.

    redis-py's cluster pipeline cannot be trusted to keep the two together through a failover
    (it re-sends a redirected command on its own, away from the ``WAIT``), so a write that asks
    for replicas goes through the master's own client, found from the cluster client's map.
    """

    def __init__(self, cluster: RedisCluster, wait: ReplicaWait) -> None:
        self.cluster = cluster
        self.wait = wait
        self._clients: dict[str, Redis] = {}
        self._relearning = asyncio.Lock()
        self._moved: dict[int, tuple[str, int]] = {}
        """Slots whose master a MOVED answer named after the cluster client's layout was read."""

    def of_key(self, key: str) -> Redis:
        moved = self._moved.get(key_slot(key.encode()))
        if moved is not None:
            host, port = moved
        else:
            node = self.cluster.get_node_from_key(key)
            if node is None:
                raise ConnectionError(f"no master serves the slot of {key}")
            host, port = node.host, int(node.port)
        client = self._clients.get(f"{host}:{port}")
        if client is None:
            kw = self.cluster.get_connection_kwargs()
            # a blocked WAIT must not be taken for a dead connection
            timeout = (kw.get("socket_timeout") or 1.0) + self.wait.timeout_ms / 1000
            client = self._clients[f"{host}:{port}"] = Redis(
                host=host, port=port, username=kw.get("username"),
                password=kw.get("password"), socket_timeout=timeout,
                socket_connect_timeout=kw.get("socket_connect_timeout"),
            )
        return client

    def moved(self, error: ResponseError) -> bool:
        """Follow a MOVED answer at once (the node that sent it knows the slot's master).

        A master's own client (not a cluster client) reads it as a plain error:
        ``MOVED <slot> <host>:<port>``.
        """
        kind, _, rest = str(error).partition(" ")
        if kind != "MOVED":
            return False
        slot, _, address = rest.partition(" ")
        host, _, port = address.rpartition(":")
        self._moved[int(slot)] = (host, int(port))
        return True

    async def relearn(self) -> None:
        """Ask the cluster again which master serves which slot (after MOVED or a dead node)."""
        # one at a time: redis-py's layout refresh is not safe to run twice at once (RuntimeError)
        async with self._relearning:
            with contextlib.suppress(RedisError, RedisClusterException, RuntimeError):
                await self.cluster.nodes_manager.initialize()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def write_shard(
    masters: MasterClients, script: AsyncScript, keys: Sequence[str], args: Sequence[Any],
    wait: ReplicaWait,
) -> Any:
    """Run ``script`` in the slot of ``keys`` on its master, then ``WAIT`` on that connection.

    Without ``WAIT`` the cluster client runs it (and follows MOVED itself). With it, a slot that
    moved or a master that died makes the layout be learned again and the write run again on
    the new master; the merge script deduplicates, so running it twice stores each event once.
    """
    if not wait.replicas:
        try:
            return await script(keys=keys, args=args, client=cast(Redis, masters.cluster))
        except RedisClusterException as e:  # not a RedisError: the cluster is out of reach
            raise ConnectionError(str(e)) from e
    error: Exception | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            await masters.relearn()
            await asyncio.sleep(0.2 * attempt)
        try:
            async with masters.of_key(keys[0]).pipeline(transaction=False) as pipe:
                await script(keys=keys, args=args, client=pipe)
                pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
                reply, confirmed = await pipe.execute(raise_on_error=False)
        except (RedisClusterException, ConnectionError, TimeoutError) as e:
            error = e
            continue
        if isinstance(reply, ResponseError) and masters.moved(reply):
            error = reply
            continue
        if isinstance(reply, (AskError, TryAgainError, ConnectionError)):
            error = reply
            continue
        if isinstance(reply, Exception):
            raise reply
        if isinstance(confirmed, Exception):
            raise confirmed
        wait.check(int(confirmed))
        return reply
    raise ConnectionError(f"the shard's write failed {ATTEMPTS} times: {error}")


async def run_script(
    redis: Redis, script: AsyncScript, keys: Sequence[str], args: Sequence[Any],
    wait: ReplicaWait,
) -> Any:
    """Run one script on a single Redis, then ``WAIT`` as ``wait`` says."""
    if not wait.replicas:
        return await script(keys=keys, args=args)
    async with redis.pipeline(transaction=False) as pipe:
        await script(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
        reply, confirmed = await pipe.execute()
    wait.check(int(confirmed))
    return reply
