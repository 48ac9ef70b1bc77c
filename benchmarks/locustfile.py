"""Locust load test: learners on a platform, their events sent by the real Python SDK.

Each Locust user is one platform backend process with one ``ProgressClient`` serving
``WAYMARK_LEARNERS`` learners. A learner resumes somewhere in a course and goes on: a
``chapter_progress`` heartbeat per 10 s of video (position and time spent growing), a
``chapter_completed`` at the end of the video, a quiz after the last chapter of each module
(retaken until passed, at most three attempts), ``course_viewed`` on opening a chapter,
``enrollment`` on starting a course, now and then a look at their own progress (``GET``), and
now and then a fresh start (a ``course_reset`` event, or ``DELETE …/progress`` with the admin
key, half and half). The catalog of every course is put once, at test start.

    WAYMARK_KEY=… .venv/bin/locust -f benchmarks/locustfile.py --host http://127.0.0.1:8080 \\
        --headless -u 50 -r 10 -t 60s --csv /tmp/locust/run --only-summary

Settings (environment, or the command-line flag in brackets):

| variable | default | meaning |
|---|---|---|
| `WAYMARK_KEY` [--waymark-key] | required | key with `ingest` (+ `read` without user tokens) |
| `WAYMARK_ADMIN_KEY` [--waymark-admin-key] | `WAYMARK_KEY` | key with `admin`: catalog and resets |
| `WAYMARK_USER_TOKEN_SECRET` [--user-token-secret] | unset | learners read with their own token |
| `WAYMARK_LEARNERS` [--learners] | 20 | learners per Locust user |
| `WAYMARK_COURSES` [--courses] | 5 | courses in the catalog |
| `WAYMARK_CHAPTERS` [--chapters] | 12 | chapters per course (modules of 4) |
| `WAYMARK_HEARTBEAT_S` [--heartbeat-s] | 10 | wall seconds between heartbeats (10: real time) |
| `WAYMARK_VIDEO_S` [--video-s] | 300 | mean video length of a chapter, seconds |

The SDK's batching, ids, ``source_id``/``seq``, client-side merge and retries (honouring
``Retry-After``) are its own: only its HTTP goes through Locust's client, so every attempt is
in Locust's statistics (the batches clients flush on stopping in a row of their own). 429/503
answers are back-pressure, in rows of their own and not failures; so is a 404 on a progress
read (the learner's events are not applied yet). Anything else unexpected, and every event the
SDK gives up on (``on_error``), is a failure.
"""

from __future__ import annotations

import csv
import itertools
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeVar, Unpack

from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastHttpSession, FastResponse, ResponseContextManager
from locust.env import Environment
from locust.event import EventHook
from locust.runners import MasterRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from waymark_client import ProgressClient, WaymarkClientError, mint_user_token
from waymark_client.base import Options
from waymark_client.delivery import Answer, Delivery, Outcome
from waymark_client.options import ClientOptions
from waymark_client.policy import parse_retry_after
from waymark_client.transport import USER_AGENT, HttpTransport
from waymark_client.wire import Event

log = logging.getLogger("waymark.locust")

EVENTS = "/v1/events"
PROGRESS = "/v1/users/[user]/courses/[course]"
BACK_PRESSURE = (429, 503)
VIDEO_STEP_S = 10
CHAPTERS_PER_MODULE = 4
READ_AFTER_CHAPTER = 0.3
RESET_AFTER_CHAPTER = 0.01
RESET_AFTER_COURSE = 0.3
RUN = uuid.uuid4().hex[:6]  # learners are new in every run, so runs do not resume each other
_users = itertools.count()
_sdk_totals: Counter[str] = Counter()
Handler = TypeVar("Handler", bound=Callable[..., None])


def listener(hook: EventHook) -> Callable[[Handler], Handler]:
    """``hook.add_listener`` as a typed decorator (Locust leaves its event hooks untyped)."""

    def add(handler: Handler) -> Handler:
        hook.add_listener(handler)  # type: ignore[no-untyped-call]  # see the docstring
        return handler

    return add


@dataclass(frozen=True, slots=True)
class Knobs:
    """The test's settings, from ``--flags`` or their ``WAYMARK_*`` variables."""

    key: str
    admin_key: str
    token_secret: str
    learners: int
    courses: int
    chapters: int
    heartbeat_s: float
    video_s: int

    @classmethod
    def of(cls, environment: Environment) -> Knobs:
        o = environment.parsed_options
        assert o is not None, "run through the locust command"
        knobs = cls(o.waymark_key, o.waymark_admin_key or o.waymark_key, o.user_token_secret,
                    o.learners, o.courses, o.chapters, o.heartbeat_s, o.video_s)
        if min(knobs.learners, knobs.courses, knobs.chapters, knobs.video_s) < 1:
            raise ValueError("learners, courses, chapters and video-s must be at least 1")
        if not knobs.heartbeat_s > 0:
            raise ValueError("heartbeat-s must be positive")
        return knobs

    def course_ids(self) -> list[str]:
        # The chapter count is in the id: a run with another count puts a new catalog instead
        # of changing this one, which would start a recompute of every learner in the middle.
        return [f"lt-{i}-{self.chapters}ch" for i in range(self.courses)]


@listener(events.init_command_line_parser)
def _add_knobs(parser: Any, **_: object) -> None:
    add = parser.add_argument
    add("--waymark-key", env_var="WAYMARK_KEY", required=True, is_secret=True,
        help="API key with ingest (and read, without user tokens)")
    add("--waymark-admin-key", env_var="WAYMARK_ADMIN_KEY", default="", is_secret=True,
        help="API key with admin (default: --waymark-key)")
    add("--user-token-secret", env_var="WAYMARK_USER_TOKEN_SECRET", default="", is_secret=True,
        help="server's WAYMARK_USER_TOKEN_SECRET: learners read with their own token")
    add("--learners", env_var="WAYMARK_LEARNERS", type=int, default=20,
        help="learners per Locust user")
    add("--courses", env_var="WAYMARK_COURSES", type=int, default=5, help="courses")
    add("--chapters", env_var="WAYMARK_CHAPTERS", type=int, default=12,
        help="chapters per course")
    add("--heartbeat-s", env_var="WAYMARK_HEARTBEAT_S", type=float, default=10.0,
        help="wall seconds between a learner's heartbeats (each is 10 s of video)")
    add("--video-s", env_var="WAYMARK_VIDEO_S", type=int, default=300,
        help="mean video length of a chapter, seconds")


def catalog(course_id: str, chapters: int) -> dict[str, Any]:
    """The ``PUT /v1/courses/{course_id}`` body: modules of four video chapters."""
    ids = [f"ch-{i:02d}" for i in range(chapters)]
    modules = [ids[i:i + CHAPTERS_PER_MODULE] for i in range(0, chapters, CHAPTERS_PER_MODULE)]
    return {"title": f"Load test {course_id}", "passing_score": 70, "modules": [
        {"module_id": f"m{n}", "title": f"Module {n}",
         "chapters": [{"chapter_id": c, "weight": 1, "kind": "video"} for c in chapter_ids]}
        for n, chapter_ids in enumerate(modules)]}


def header(r: FastResponse, name: str) -> str | None:
    """One header of an answer (none when no answer came)."""
    value = r.headers.get(name) if r.headers else None
    return value if isinstance(value, str) else None


def judge(r: ResponseContextManager, ok: Container[int]) -> float:
    """Mark an answer in the statistics; returns the seconds the server asked to wait."""
    delay, error = 0.0, None
    if r.status_code in BACK_PRESSURE:
        r.request_meta["name"] += f" ({r.status_code} back-pressure)"
        asked = parse_retry_after(header(r, "Retry-After"), now_epoch=time.time())
        delay = 1.0 if asked is None else asked
    elif r.status_code not in ok:
        error = f"HTTP {r.status_code}: {(r.text or str(getattr(r, 'error', '')))[:200]}"
    # Locust leaves these two untyped.
    if error is None:
        r.success()  # type: ignore[no-untyped-call]
    else:
        r.failure(error)  # type: ignore[no-untyped-call]
    return delay


@listener(events.test_start)
def _put_catalog(environment: Environment, **_: object) -> None:
    _sdk_totals.clear()  # a new run started from the web UI counts afresh
    if isinstance(environment.runner, MasterRunner):
        return  # the workers put it; the master sends nothing
    knobs = Knobs.of(environment)
    session = FastHttpSession(environment.host or LearnerPlatform.host,
                              environment.events.request, user=None)
    headers = {"Authorization": f"Bearer {knobs.admin_key}"}
    for course_id in knobs.course_ids():
        with session.put(f"/v1/courses/{course_id}", json=catalog(course_id, knobs.chapters),
                         headers=headers, name="/v1/courses/[course]", catch_response=True) as r:
            judge(r, (200,))


@listener(events.test_stop)
def _report_sdk_totals(environment: Environment, **_: object) -> None:
    if not _sdk_totals:
        return
    log.info("SDK totals: %s", ", ".join(f"{k}={v}" for k, v in sorted(_sdk_totals.items())))
    prefix = environment.parsed_options.csv_prefix if environment.parsed_options else None
    if prefix:
        with open(f"{prefix}_sdk.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(sorted(_sdk_totals))
            writer.writerow(v for _, v in sorted(_sdk_totals.items()))
        # Locust rewrites its CSV files once a second and not at exit: give it one more turn, so
        # they count the batches every client flushed on stopping, as the console summary does.
        time.sleep(CSV_STATS_INTERVAL_SEC + 0.2)  # gevent's sleep: Locust patched time


class LocustTransport(HttpTransport):
    """The SDK's transport over a Locust session: same requests, recorded in the stats."""

    def __init__(self, options: ClientOptions, session: FastHttpSession) -> None:
        super().__init__(options)
        self._session = session
        self.name = EVENTS
        self._headers = {"Authorization": f"Bearer {options.api_key}", "User-Agent": USER_AGENT}

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        with self._session.post(EVENTS, data=body,  # type: ignore[arg-type]  # bytes are fine
                                headers={**headers, **self._headers}, name=self.name,
                                catch_response=True) as r:
            judge(r, (202,))  # the SDK itself waits out Retry-After
        if r.status_code == 0:  # no answer: the SDK retries it as a network error
            raise ConnectionError(f"{EVENTS}: {getattr(r, 'error', 'no answer')}")
        return Answer(status=r.status_code, body=r.content or b"",
                      content_type=header(r, "Content-Type"),
                      retry_after=header(r, "Retry-After"))

    def close(self) -> None:
        pass  # the session's connections belong to Locust


class LocustProgressClient(ProgressClient):
    """``ProgressClient`` whose sender thread (a greenlet under Locust) sends through Locust.

    The SDK has no transport option, so this overrides the one method that is handed the
    transport; everything else, queue and retries included, is the SDK's own code.
    """

    def __init__(self, api_key: str, session: FastHttpSession, **options: Unpack[Options]) -> None:
        super().__init__(api_key, **options)
        self._locust_transport = LocustTransport(self.options, session)

    def _deliver(self, delivery: Delivery, transport: HttpTransport) -> Outcome:
        return super()._deliver(delivery, self._locust_transport)

    def close(self, timeout: float | None = None) -> None:
        # Every client sends what it still holds at the same moment: a burst the steady load
        # never makes, so its own row keeps it out of the steady figures.
        self._locust_transport.name = f"{EVENTS} (flush on stop)"
        super().close(timeout)


class Platform(Protocol):
    """What a learner does outside the SDK: the platform's own calls to Waymark."""

    def read_progress(self, user_id: str, course_id: str) -> None: ...
    def delete_progress(self, user_id: str, course_id: str) -> None: ...


class Learner:
    """One learner's way through the catalog; ``step()`` is one heartbeat period."""

    def __init__(self, user_id: str, sdk: ProgressClient, platform: Platform, knobs: Knobs,
                 rng: random.Random) -> None:
        self.user_id, self.sdk, self.platform = user_id, sdk, platform
        self.knobs, self.rng = knobs, rng
        self._steps = self._journey()

    def step(self) -> None:
        next(self._steps)

    def _journey(self) -> Iterator[None]:
        # A snapshot of a live platform: each learner is somewhere in a course already.
        courses = self.knobs.course_ids()
        first = self.rng.randrange(len(courses))
        resume_at = self.rng.randrange(self.knobs.chapters)
        for n in itertools.count(first):
            course_id = courses[n % len(courses)]
            yield from self._course(course_id, resume_at)
            resume_at = 0
            while self.rng.random() < RESET_AFTER_COURSE:  # to take it again, for a better quiz
                self._reset(course_id)
                yield from self._course(course_id, 0)

    def _course(self, course_id: str, chapter: int) -> Iterator[None]:
        u, sdk, rng = self.user_id, self.sdk, self.rng
        if chapter == 0:
            sdk.enrollment(u, course_id, "enrolled")
        sdk.viewed(u, course_id)
        yield
        resumed = chapter != 0  # back in the middle of a chapter's video
        while chapter < self.knobs.chapters:
            chapter_id = f"ch-{chapter:02d}"
            yield from self._watch(course_id, chapter_id, resumed)
            resumed = False
            if chapter % CHAPTERS_PER_MODULE == CHAPTERS_PER_MODULE - 1:
                yield from self._quiz(course_id, chapter_id)
            if rng.random() < READ_AFTER_CHAPTER:
                self.platform.read_progress(u, course_id)
            chapter += 1
            if rng.random() < RESET_AFTER_CHAPTER:
                chapter = 0
                self._reset(course_id)
        self.platform.read_progress(u, course_id)  # the certificate page

    def _watch(self, course_id: str, chapter_id: str, resumed: bool) -> Iterator[None]:
        half = self.knobs.video_s // 2
        video = max(VIDEO_STEP_S, self.rng.randint(half, half + self.knobs.video_s))
        position = self.rng.randrange(0, video, VIDEO_STEP_S) if resumed else 0
        self.sdk.viewed(self.user_id, course_id, chapter_id)
        while position + VIDEO_STEP_S < video:
            yield
            position += VIDEO_STEP_S
            self.sdk.progress(self.user_id, course_id, chapter_id, round(100 * position / video, 2),
                              position_s=position, time_spent_s=VIDEO_STEP_S)
        yield
        self.sdk.complete(self.user_id, course_id, chapter_id, time_spent_s=video - position)

    def _quiz(self, course_id: str, chapter_id: str) -> Iterator[None]:
        for _ in range(3):
            yield
            score = self.rng.randint(4, 10)
            self.sdk.quiz_attempt(self.user_id, course_id, f"quiz-{chapter_id}",
                                  f"att-{self.rng.getrandbits(64):016x}", score, 10,
                                  duration_s=self.rng.randint(60, 600), chapter_id=chapter_id)
            if score >= 7:
                return

    def _reset(self, course_id: str) -> None:
        if self.rng.random() < 0.5:
            self.sdk.reset(self.user_id, course_id)
        else:
            self.platform.delete_progress(self.user_id, course_id)


class LearnerPlatform(FastHttpUser):
    """A platform backend: one SDK client and its learners, each stepped once per heartbeat."""

    host = "http://127.0.0.1:8080"

    def on_start(self) -> None:
        self.knobs = Knobs.of(self.environment)
        n = next(_users)
        self.sdk = LocustProgressClient(self.knobs.key, self.client, base_url=self.host,
                                        on_error=self._sdk_error)
        rng = random.Random(f"{RUN}-{n}")
        learners = [Learner(f"lt-{RUN}-{n}-{i}", self.sdk, self, self.knobs, rng)
                    for i in range(self.knobs.learners)]
        self._turns = itertools.cycle(learners)
        self._tick_s = self.knobs.heartbeat_s / self.knobs.learners
        self._next_tick = time.monotonic()
        self._pause_s = 0.0

    def wait_time(self) -> float:
        # Paced, so a learner's heartbeat period does not grow with the time a step takes;
        # a generator that falls behind skips ahead instead of bursting to catch up.
        now = time.monotonic()
        self._next_tick = max(self._next_tick + self._tick_s, now) + self._pause_s
        self._pause_s = 0.0
        return self._next_tick - now

    @task
    def heartbeat(self) -> None:
        next(self._turns).step()

    def on_stop(self) -> None:
        self.sdk.close(timeout=5)
        stats = self.sdk.stats()
        _sdk_totals.update({f.name: getattr(stats, f.name) for f in fields(stats)
                            if f.name != "queued"})

    def read_progress(self, user_id: str, course_id: str) -> None:
        if self.knobs.token_secret:
            auth = mint_user_token(self.knobs.token_secret, user_id)
        else:
            auth = self.knobs.key
        with self.client.get(f"/v1/users/{user_id}/courses/{course_id}", name=PROGRESS,
                             headers={"Authorization": f"Bearer {auth}"},
                             catch_response=True) as r:
            if r.status_code == 404:
                r.request_meta["name"] += " (404 not applied yet)"
            self._pause_s += judge(r, (200, 404))

    def delete_progress(self, user_id: str, course_id: str) -> None:
        with self.client.delete(f"/v1/users/{user_id}/courses/{course_id}/progress",
                                name=f"{PROGRESS}/progress",
                                headers={"Authorization": f"Bearer {self.knobs.admin_key}"},
                                catch_response=True) as r:
            self._pause_s += judge(r, (202,))

    def _sdk_error(self, exc: WaymarkClientError, lost: Sequence[Event]) -> None:
        self.environment.events.request.fire(
            request_type="SDK", name=f"on_error {exc.code}", response_time=0,
            response_length=len(lost), exception=exc, context={})
