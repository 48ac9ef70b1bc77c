"""Typed application keys: the resources one app owns (created in ``cleanup_ctx``)."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from arq.connections import ArqRedis

from aggregator.signing import CertificateSigner
from buffer.cluster import RedisClient
from buffer.merge_buffer import MergeBuffer
from ingest.auth import KeyRing
from ingest.metrics import IngestMetrics
from ingest.rules import CourseRulesCache
from ingest.service import Backpressure, IngestService
from waymark.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
KEYS = web.AppKey("keys", KeyRing)
METRICS = web.AppKey("metrics", IngestMetrics)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
POOL = web.AppKey("pool", asyncpg.Pool)
QUEUE = web.AppKey("queue", ArqRedis)
BUFFER = web.AppKey("buffer", MergeBuffer)
RULES = web.AppKey("rules", CourseRulesCache)
PRESSURE = web.AppKey("pressure", Backpressure)
SERVICE = web.AppKey("service", IngestService)
CERT_SIGNER: web.AppKey[CertificateSigner | None] = web.AppKey("cert_signer")
"""Serves the certificate keys and checks signatures; ``None`` when no key is configured."""
