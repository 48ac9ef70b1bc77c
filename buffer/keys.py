"""Where the merge buffer keeps things in Redis: the one definition of its key names.

Every key of one shard shares the hash tag ``{wm.N}``, so each script touches one slot (and a
Redis Cluster keeps a shard's keys together):

- ``wm:{wm.N}:buf``   hash, keyid → msgpack entry: a course entry, a chapter entry whole, or
  the header of a chapter whose events are in its tail key
- ``wm:{wm.N}:t:K``   string, the events of chapter keyid K once they outgrow its hash value
  (appended as msgpack arrays; see ``lua/merge.lua``)
- ``wm:{wm.N}:due``   zset, keyid → epoch ms at which the key is due for flushing
- ``wm:{wm.N}:ids:B`` set of event ids seen in dedup bucket B (expires after the window)
- ``wm:{wm.N}:sm:S`` / ``sr:S`` highest seq and ring of recent seqs of source S
- ``wm:{wm.N}:leases`` zset, batch id → lease expiry ms; ``inflight`` hash holds leased batches
- ``wm:{wm.N}:dead`` / ``deadidx`` dead-lettered batch parts and their index by time
- ``wm:{wm.N}:tries`` failed tries per batch part; ``flushlock`` the shard's flush lock
- ``wm:{wm.N}:erased`` zset, user id → erased_at ms: tombstones of erased learners
  (``buffer.erasure``)
- ``wm:{wm.N}:replay`` stream of the batches applied in the last ``WAYMARK_REPLAY_RETENTION_S``,
  in the order they were acknowledged: field ``b`` the batch id, then keyid → entry
  (``buffer.replay``)

A keyid is ``user|course|chapter`` (``user|course|`` for course-level state); ``|`` cannot occur
in an id, so two different triples never share a keyid. The entries' layout is in
``buffer.entries``.
"""

from __future__ import annotations

import zlib


def shard_key(shard: int, name: str) -> str:
    """The Redis key ``name`` of ``shard``."""
    return f"wm:{{wm.{shard}}}:{name}"


def shard_of(user_id: str, shards: int) -> int:
    """The shard that holds every key of ``user_id``."""
    return zlib.crc32(user_id.encode()) % shards


def keyid(user_id: str, course_id: str, chapter_id: str = "") -> str:
    return f"{user_id}|{course_id}|{chapter_id}"


def split_keyid(kid: str) -> tuple[str, str, str]:
    user_id, course_id, chapter_id = kid.split("|")
    return user_id, course_id, chapter_id
