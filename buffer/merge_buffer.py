"""The Redis merge buffer: deduplicates events and merges them per (user, course, chapter).

Keys are laid out as ``buffer.keys`` says, entries as ``buffer.entries`` says. A drained batch
stays in ``inflight`` until its PostgreSQL transaction has committed and it is acknowledged; an
expired lease makes it re-deliverable with the same batch id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import msgspec
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from buffer.cluster import (
    MasterClients,
    RedisClient,
    ReplicaWait,
    register_script,
    run_packed,
    run_script,
    write_shard,
)
from buffer.entries import (
    INLINE_BYTES,
    ChapterOp,
    CourseChange,
    CourseOp,
    EventSlot,
    MergeRequest,
    encode_request,
)
from buffer.fold import BUFFER_TAIL_CAP, TAIL_LIMIT, TailEvent
from buffer.keys import shard_key, shard_of

SOURCE_RING = 1024
"""How many recent seqs per source are remembered individually (128 bytes of bitmap)."""
DEDUP_BUCKETS_PER_WINDOW = 4

_encode = msgspec.msgpack.Encoder().encode


_LOCK = """
local holder = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 1
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def _written(reply: list[Any]) -> Written:
    flags, pending, pairs = reply
    erased = {pairs[i].decode(): int(pairs[i + 1]) for i in range(0, len(pairs), 2)}
    return Written(flags.decode(), int(pending), erased)


def _load(name: str) -> str:
    return resources.files("buffer").joinpath("lua", name).read_text()


@dataclass
class ShardWrite:
    """The part of one request that goes to one shard: events to dedup and the ops they imply."""

    request: MergeRequest = field(default_factory=MergeRequest)
    sources: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    indexes: list[int] = field(default_factory=list)
    """Position in the request of each event of this shard."""

    def add_event(self, index: int, event_id: str, source_id: str | None, seq: int | None,
                  user_id: str | None = None, ts: int = 0) -> int:
        """Add an event; with ``user_id``, the script refuses it if that learner's tombstone
        is at or after ``ts``."""
        slot = user = 0
        if source_id is not None and seq is not None:
            slot = self.sources.setdefault(source_id, len(self.sources) + 1)
        if user_id is not None:
            user = self.users.get(user_id, 0)
            if not user:
                self.request.users.append(user_id)
                user = self.users[user_id] = len(self.request.users)
        self.request.events.append(EventSlot(event_id, slot, seq or 0, user, ts))
        self.indexes.append(index)
        return len(self.request.events)

    def chapter_op(self, ev: int, kid: str, urgent: bool, event: TailEvent) -> None:
        self.request.ops.append(ChapterOp(ev, kid, urgent, event))

    def course_op(self, ev: int, kid: str, urgent: bool, change: CourseChange) -> None:
        self.request.ops.append(CourseOp(ev, kid, urgent, change))


@dataclass(frozen=True, slots=True)
class Written:
    """What one shard's merge answered."""

    flags: str
    """One per event: '1' accepted, '0' duplicate, 'e' refused (its learner was erased at or
    after its ``ts``)."""
    pending: int
    """Keys pending in the shard now."""
    erased: dict[str, int]
    """``erased_ms`` of each learner with a refused event."""


@dataclass(frozen=True, slots=True)
class DrainedBatch:
    shard: int
    batch_id: str
    entries: list[tuple[str, bytes]]
    redelivered: bool = False


class MergeBuffer:
    """Typed access to the buffer's scripts; one instance per process, shared by its tasks."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        shards: int,
        merge_window_ms: int,
        dedup_window_s: int,
        lease_s: int,
        source_ttl_s: int = 91 * 86400,
        tail_cap: int = BUFFER_TAIL_CAP,
        wait: ReplicaWait | None = None,
        replay_retention_s: int = 0,
        inline_bytes: int = INLINE_BYTES,
    ) -> None:
        self.redis = redis
        self.wait = wait or ReplicaWait()
        self._masters = None if isinstance(redis, Redis) else MasterClients(redis, self.wait)
        self.shards = shards
        self.merge_window_ms = merge_window_ms
        self.dedup_window_s = dedup_window_s
        self.lease_ms = lease_s * 1000
        self.replay_retention_ms = replay_retention_s * 1000
        self.source_ttl_s = source_ttl_s
        self.tail_cap = tail_cap
        self.inline_bytes = inline_bytes
        self.bucket_s = max(1, dedup_window_s // DEDUP_BUCKETS_PER_WINDOW)
        self.n_buckets = -(-dedup_window_s // self.bucket_s) + 1
        self._merge = register_script(redis, _load("merge.lua"))
        self._drain = register_script(redis, _load("drain.lua"))
        self._reclaim = register_script(redis, _load("reclaim.lua"))
        self._ack = register_script(redis, _load("ack.lua"))
        self._dead_letter = register_script(redis, _load("dead_letter.lua"))
        self._requeue = register_script(redis, _load("requeue.lua"))
        self._lock = register_script(redis, _LOCK)

    def shard_of(self, user_id: str) -> int:
        return shard_of(user_id, self.shards)

    key = staticmethod(shard_key)

    async def write(self, writes: dict[int, ShardWrite]) -> dict[int, Written]:
        """Merge a request's events, one round trip.

        A single Redis takes every shard in one script call; a cluster takes each shard
        atomically on its own master, concurrently (``buffer.cluster`` says why a retry is safe
        then). Each shard checks its learners' tombstones in the same step (see
        :class:`Written`).
        """
        bucket = int(time.time()) // self.bucket_s
        order = sorted(writes)
        results: list[Any]
        if self._masters is not None:
            masters = self._masters
            calls = [self._merge_call({shard: writes[shard]}, bucket) for shard in order]
            results = [r[0] for r in await asyncio.gather(*(
                write_shard(masters, self._merge, keys, args, self.wait) for keys, args in calls
            ))]
        else:
            keys, args = self._merge_call({shard: writes[shard] for shard in order}, bucket)
            if self.wait.replicas:
                results = await run_script(cast(Redis, self.redis), self._merge, keys, args,
                                           self.wait)
            else:
                results = await run_packed(cast(Redis, self.redis), self._merge, keys, args)
        return {shard: _written(r) for shard, r in zip(order, results, strict=True)}

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """One script in one shard's slot, followed by ``WAIT`` when replicas must confirm."""
        if self._masters is not None:
            return await write_shard(self._masters, script, keys, args, self.wait)
        return await run_script(cast(Redis, self.redis), script, keys, args, self.wait)

    async def aclose(self) -> None:
        """Close the clients the buffer opened itself (a cluster's per-master clients)."""
        if self._masters is not None:
            await self._masters.aclose()

    def _merge_call(
        self, writes: dict[int, ShardWrite], bucket: int
    ) -> tuple[list[str], list[bytes | int]]:
        """``merge.lua``'s keys and arguments for ``writes``, its shards in the order given."""
        keys: list[str] = []
        args: list[bytes | int] = [
            self.merge_window_ms,
            self.dedup_window_s + self.bucket_s,
            self.source_ttl_s,
            self.n_buckets,
            SOURCE_RING,
            TAIL_LIMIT,
            self.tail_cap,
            self.inline_bytes,
        ]
        for shard, w in writes.items():
            first = len(keys)
            keys += [self.key(shard, "buf"), self.key(shard, "due"), self.key(shard, "erased")]
            keys += [self.key(shard, f"ids:{bucket - i}") for i in range(self.n_buckets)]
            for source in w.sources:  # insertion order == slot order
                keys += [self.key(shard, f"sm:{source}"), self.key(shard, f"sr:{source}")]
            args += [len(keys) - first, encode_request(w.request)]
        return keys, args

    def _lease_keys(self, shard: int) -> list[str]:
        return [self.key(shard, "leases"), self.key(shard, "inflight")]

    def _dead_keys(self, shard: int) -> list[str]:
        return [self.key(shard, "dead"), self.key(shard, "deadidx")]

    async def drain(self, shard: int, limit: int) -> DrainedBatch | None:
        """Lease up to ``limit`` due keys of ``shard`` as a new batch."""
        batch = await self.drain_ready(shard, limit, min_keys=1, linger_ms=0)
        assert not isinstance(batch, float)
        return batch

    async def drain_ready(self, shard: int, limit: int, *, min_keys: int, linger_ms: int
                          ) -> DrainedBatch | float | None:
        """Lease up to ``limit`` due keys of ``shard`` as a new batch once at least ``min_keys``
        are due or the oldest has been due for ``linger_ms``; until then the seconds left to
        wait (``None``: no key is due)."""
        batch_id = f"{shard}-{uuid.uuid4().hex}"
        keys = [self.key(shard, "buf"), self.key(shard, "due"), *self._lease_keys(shard)]
        # With replica acknowledgement the lease is on the replicas before the batch is applied:
        # a failover then re-delivers this batch by its id (skipped by the ledger) instead of
        # handing its entries out again under a new id.
        res = await self._run(self._drain, keys,
                              [limit, self.lease_ms, batch_id, min_keys, linger_ms])
        if res is None:
            return None
        if isinstance(res, int):
            return res / 1000
        kids, vals = res
        entries = [(k.decode(), v) for k, v in zip(kids, vals, strict=True)]
        return DrainedBatch(shard, batch_id, entries)

    async def reclaim(self, shard: int) -> DrainedBatch | None:
        """Re-lease one batch of ``shard`` whose lease has expired."""
        res = await self._reclaim(keys=self._lease_keys(shard), args=[self.lease_ms])
        if res is None:
            return None
        bid, kids, vals = res
        entries = [(k.decode(), v) for k, v in zip(kids, vals, strict=True)]
        return DrainedBatch(shard, bid.decode(), entries, redelivered=True)

    async def ack(self, batch: DrainedBatch) -> None:
        """Forget ``batch`` (committed); keep its entries for ``waymark replay`` a while."""
        keys = [*self._lease_keys(batch.shard), self.key(batch.shard, "replay")]
        await self._ack(keys=keys, args=[batch.batch_id, self.replay_retention_ms])

    async def lock_shard(self, shard: int, token: str, ttl_ms: int) -> bool:
        """Take (or renew, with the same token) the right to flush ``shard`` for ``ttl_ms``."""
        ok = await self._lock(keys=[self.key(shard, "flushlock")], args=[token, ttl_ms])
        return bool(ok)

    async def unlock_shard(self, shard: int, token: str) -> None:
        await self._lock(keys=[self.key(shard, "flushlock")], args=[token, 0])

    async def _set_lease(self, batch: DrainedBatch, due_ms: int) -> None:
        await self.redis.zadd(self.key(batch.shard, "leases"), {batch.batch_id: due_ms}, xx=True)

    async def extend(self, batch: DrainedBatch) -> None:
        """Keep holding ``batch`` for another lease period (a long retry is still alive)."""
        await self._set_lease(batch, int(time.time() * 1000) + self.lease_ms)

    async def retry_later(self, batch: DrainedBatch, delay_s: float) -> None:
        """Let ``batch`` be re-delivered (same id) after ``delay_s`` instead of the full lease."""
        await self._set_lease(batch, int((time.time() + delay_s) * 1000))

    async def release(self, batch: DrainedBatch) -> None:
        """Give ``batch`` up now so another worker takes it at once (shutdown)."""
        await self._set_lease(batch, int(time.time() * 1000))

    async def count_failure(self, shard: int, part_id: str) -> int:
        """Count one more failed try of a batch part; return the tries so far."""
        key = self.key(shard, "tries")
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, part_id, 1)
            pipe.expire(key, 7 * 86400)
            tries, _ = await pipe.execute()
        return int(tries)

    async def dead_letter(
        self, batch: DrainedBatch, part_id: str, keyids: list[str], meta: dict[str, Any],
        *, finish: bool,
    ) -> None:
        """Move ``keyids`` of ``batch`` to the dead-letter area as ``part_id``."""
        keys = [*self._lease_keys(batch.shard), *self._dead_keys(batch.shard)]
        args = [batch.batch_id, part_id, _encode(meta), "1" if finish else "0", *keyids]
        await self._dead_letter(keys=keys, args=args)

    async def dead_letters(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Every dead letter: (shard, id, meta with error, tries, keys)."""
        out = []
        for shard in range(self.shards):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.key(shard, "dead"))
                (raw,) = await pipe.execute()
            for raw_name, value in raw.items():
                name = raw_name.decode()
                if name.endswith("#meta"):
                    meta = msgspec.msgpack.decode(value)
                    meta["keys"] = raw.get(name[: -len("#meta")].encode(), b"").decode().split()
                    out.append((shard, name[: -len("#meta")], meta))
        return out

    async def dead_letter_count(self) -> int:
        """Dead letters, all shards (one ZCARD per shard, pipelined)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(self.shards):
                pipe.zcard(self.key(shard, "deadidx"))
            res = await pipe.execute()
        return int(sum(res))

    async def requeue(self, shard: int, dead_id: str) -> int:
        """Put a dead letter back as a new batch, due at once; return its key count."""
        keys = [*self._lease_keys(shard), *self._dead_keys(shard)]
        new_id = f"{shard}-{uuid.uuid4().hex}"
        return int(await self._requeue(keys=keys, args=[dead_id, new_id]))

    async def shards_with_work(self) -> list[int]:
        """Shards holding a due key or an expired lease (one pipelined round trip)."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(self.shards):
                pipe.zrangebyscore(self.key(shard, "due"), "-inf", now, start=0, num=1)
                pipe.zrangebyscore(self.key(shard, "leases"), "-inf", now, start=0, num=1)
            res = await pipe.execute()
        return [s for s in range(self.shards) if res[2 * s] or res[2 * s + 1]]

    async def pending_keys(self) -> int:
        """Keys waiting in the buffer, all shards."""
        return sum((await self.pending_by_shard()).values())

    async def pending_by_shard(self) -> dict[int, int]:
        """Keys waiting in each shard (one pipelined round trip)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(self.shards):
                pipe.zcard(self.key(shard, "due"))
            res = await pipe.execute()
        return {shard: int(n) for shard, n in enumerate(res)}

    async def inflight_batches(self) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(self.shards):
                pipe.zcard(self.key(shard, "leases"))
            res = await pipe.execute()
        return int(sum(res))


