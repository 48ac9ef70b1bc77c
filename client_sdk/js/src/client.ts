/**
 * `WaymarkClient`: the browser side of `POST /v1/events` and the course read.
 *
 * One batch of the send loop is in flight at a time; when the page is hidden or closed, what
 * waits is sent at once in `keepalive` requests within the browser's 64 KiB budget (keepalive
 * only then: Chromium caps such requests and they outlive the page), and what does not fit
 * stays in storage for the next load. An event leaves storage only when the server
 * has answered for it, so a request lost with the page is sent again on the next load, and the
 * server drops the copy by `source_id`/`seq`.
 */

import type { EventInput, WaymarkEvent } from "./events.js";
import { newEventId } from "./ids.js";
import { classify, KEEPALIVE_LIMIT, packBatches, parseRetryAfter, retryDelayMs } from "./policy.js";
import { type Entry, Queue, type Stats } from "./queue.js";
import { claimSlot, type Locks } from "./slots.js";
import { type Answer, postBatch, subjectOf } from "./transport.js";
import type { CourseProgressView } from "./views.js";

export interface ClientOptions {
  /** Base URL of the Waymark API, e.g. `https://progress.example.com`. */
  endpoint: string;
  /** The learner's user token: an HS256 JWT minted by the platform's backend. */
  token: string;
  /** Called once on a `401`: a fresh token, or `null` to pause sending until `setToken()`. */
  refreshToken?: () => Promise<string | null> | string | null;
  /** Defaults to the token's `sub`. */
  userId?: string;
  flushAt?: number;
  flushIntervalMs?: number;
  maxQueueSize?: number;
  mergeWindowMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  retryAfterMaxMs?: number;
  /** Key prefix of the persisted queue. Default `"waymark"`. */
  storageKey?: string;
  /** Where the queue is persisted; `null` keeps it in memory only. Default `localStorage`. */
  storage?: Storage | null;
  /** Tab ownership of persisted queues. Default `navigator.locks`. */
  locks?: Locks;
  onError?: (error: WaymarkError, events: WaymarkEvent[]) => void;
  fetch?: typeof fetch;
}

/** A refusal the client gives up on, or an auth failure it waits out. */
export class WaymarkError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = "WaymarkError";
  }
}

/** The `202` answer to a batch. */
export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: { index: number; code: string; message: string }[];
}


const MAX_BATCH_EVENTS = 500;
const MAX_BATCH_BYTES = 256 * 1024;
const ENVELOPE_BYTES = 64; // {"sent_at":"…","events":[]}
const encoder = new TextEncoder();

function defaultStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled for this site: reading the property throws
  }
}

function randomSource(): string {
  return newEventId().replace(/-/g, "");
}

export class WaymarkClient {
  readonly userId: string;
  /** Resolves once the persisted queue is claimed and restored. */
  readonly ready: Promise<void>;
  private readonly opts: Required<Omit<ClientOptions, "refreshToken" | "userId" | "onError" | "storageKey" | "storage" | "locks">> &
    Pick<ClientOptions, "refreshToken" | "onError">;
  private readonly queue: Queue;
  private readonly hooks = new Set<() => void>();
  private readonly listeners = new Set<(result: BatchResult) => void>();
  private token: string;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private loop: Promise<boolean> | null = null;
  private attempt = 0;
  private pausedUntil = 0;
  private authBlocked = false;
  private keepaliveBytes = 0;
  private inflight: Entry[] | null = null;
  private closed = false;
  private releaseSlot: () => void = () => {};

  constructor(options: ClientOptions) {
    const userId = options.userId ?? subjectOf(options.token);
    if (!userId) throw new WaymarkError("no_user", "userId is required when the token has no sub");
    this.userId = userId;
    this.token = options.token;
    this.opts = {
      flushAt: 100, flushIntervalMs: 5000, maxQueueSize: 1000, mergeWindowMs: 60_000,
      backoffBaseMs: 500, backoffMaxMs: 30_000, retryAfterMaxMs: 60_000,
      ...options,
      endpoint: options.endpoint.replace(/\/+$/, ""),
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    };
    this.queue = new Queue(this.opts.maxQueueSize, this.opts.mergeWindowMs);
    const storage = options.storage === undefined ? defaultStorage() : options.storage;
    const locks = options.locks ?? (globalThis.navigator?.locks as Locks | undefined);
    this.ready = this.claim(options.storageKey ?? "waymark", storage ?? null, locks);
    if (typeof window !== "undefined") {
      window.addEventListener("pagehide", this.sendAll);
      window.addEventListener("online", this.wake);
      document.addEventListener("visibilitychange", this.onVisibility);
    }
  }

  private async claim(prefix: string, storage: Storage | null, locks: Locks | undefined): Promise<void> {
    let claimed = null;
    try {
      // Without Web Locks two tabs could share a slot's seq counter: the queue stays in memory.
      if (storage && locks) claimed = await claimSlot(storage, locks, prefix, randomSource);
    } catch {
      this.queue.stats.storageErrors += 1;
    }
    if (claimed) {
      this.releaseSlot = claimed.release;
      this.queue.attach(claimed.saved, claimed.restored, claimed.store);
    } else {
      this.queue.attach({ source: randomSource(), seq: 1, events: [] }, [], { save() {} });
    }
    this.schedule();
  }

  /** Queue an event; returns the id it is sent with, or `null` when the queue is full. */
  track(input: EventInput): string | null {
    if (this.closed) return null;
    const event = { id: newEventId(), user_id: this.userId, ts: Date.now(), ...input } as WaymarkEvent;
    if (!this.queue.admit(event)) return null;
    this.schedule();
    return event.id;
  }

  /** A `chapter_progress` event: percent of the chapter, resume point, seconds spent. */
  progress(courseId: string, chapterId: string, progress: number, extra: { position_s?: number; time_spent_s?: number } = {}): string | null {
    return this.track({ type: "chapter_progress", course_id: courseId, chapter_id: chapterId, progress, ...extra });
  }

  /** A `chapter_completed` event. */
  complete(courseId: string, chapterId: string, timeSpentS?: number): string | null {
    const extra = timeSpentS === undefined ? {} : { time_spent_s: timeSpentS };
    return this.track({ type: "chapter_completed", course_id: courseId, chapter_id: chapterId, ...extra });
  }

  /** A `course_viewed` event: the course (or a chapter) was opened. */
  viewed(courseId: string, chapterId?: string): string | null {
    return this.track({ type: "course_viewed", course_id: courseId, ...(chapterId ? { chapter_id: chapterId } : {}) });
  }

  /** Send everything queued now; resolves when it is delivered or waits for a retry. */
  async flush(): Promise<void> {
    await this.ready;
    this.pausedUntil = 0;
    while (!this.closed && !this.authBlocked && this.queue.waiting().length > 0) {
      if (!(await (this.loop ?? this.sendNext()))) return;
    }
  }

  /** A new user token; also resumes sending after a refused refresh. */
  setToken(token: string): void {
    this.token = token;
    this.authBlocked = false;
    this.schedule();
  }

  /** Run `hook` before the queue is sent on hide/close (media trackers record their last tick). */
  onBeforeSend(hook: () => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Be told of every batch the server took. */
  onDelivered(listener: (result: BatchResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Counters since the page loaded. */
  stats(): Stats {
    return { ...this.queue.stats };
  }

  /** The learner's progress in a course, or `null` when there is none yet. */
  async readCourse(courseId: string): Promise<CourseProgressView | null> {
    const url = `${this.opts.endpoint}/v1/users/${encodeURIComponent(this.userId)}/courses/${encodeURIComponent(courseId)}`;
    for (let refreshed = false; ; refreshed = true) {
      const res = await this.opts.fetch(url, { headers: { Authorization: `Bearer ${this.token}` }, credentials: "omit" });
      if (res.status === 401 && !refreshed && (await this.refresh())) continue;
      if (res.status === 404) return null;
      if (!res.ok) throw new WaymarkError("read_failed", `course read answered ${res.status}`, res.status);
      return (await res.json()) as CourseProgressView;
    }
  }

  /** Stop: send what waits with keepalive and give the persisted queue up to other tabs. */
  close(): void {
    this.sendAll();
    this.closed = true;
    clearTimeout(this.timer);
    if (typeof window !== "undefined") {
      window.removeEventListener("pagehide", this.sendAll);
      window.removeEventListener("online", this.wake);
      document.removeEventListener("visibilitychange", this.onVisibility);
    }
    this.releaseSlot();
  }

  // -- the send loop ---------------------------------------------------------------------

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed || this.loop || this.authBlocked || !this.queue.attached) return;
    // A batch that failed was due already: it goes again as soon as its back-off allows.
    const due = this.queue.dueIn(this.opts.flushAt, this.attempt > 0 ? 0 : this.opts.flushIntervalMs);
    if (due === null) return;
    const wait = Math.max(due, this.pausedUntil - Date.now());
    this.timer = setTimeout(() => void this.sendNext(), wait);
  }

  private readonly wake = (): void => {
    this.attempt = 0;
    this.pausedUntil = 0;
    this.schedule();
  };

  private offline(): boolean {
    return typeof navigator !== "undefined" && navigator.onLine === false;
  }

  private sendNext(): Promise<boolean> {
    const waiting = this.queue.waiting();
    if (this.loop || this.closed || waiting.length === 0) return Promise.resolve(false);
    if (this.offline()) {
      // The `online` event wakes the loop; the timer is there in case it never fires.
      this.pausedUntil = Date.now() + this.opts.backoffMaxMs;
      this.schedule();
      return Promise.resolve(false);
    }
    const sizes = waiting.map((e) => e.size);
    const n = packBatches(sizes, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, ENVELOPE_BYTES)[0] ?? 1;
    const batch = waiting.slice(0, n);
    this.queue.seal(batch);
    this.inflight = batch;
    this.loop = this.deliver(batch, false).finally(() => {
      this.inflight = null;
      this.loop = null;
      this.schedule();
    });
    return this.loop;
  }

  private readonly onVisibility = (): void => {
    if (document.visibilityState === "hidden") this.sendAll();
  };

  /**
   * Page hidden or closing: record last ticks, then send what waits, and the loop's batch in
   * flight (a page going away cancels it; the server drops a second copy), in keepalive
   * requests within their budget. What does not fit stays stored for the next load.
   */
  private readonly sendAll = (): void => {
    for (const hook of this.hooks) hook();
    // Before the slot is claimed (the first milliseconds) events have no seq yet; one sent
    // without and again with it could be counted twice, so they wait.
    if (this.closed || this.authBlocked || this.offline() || !this.queue.attached) return;
    const waiting = [...(this.inflight ?? []), ...this.queue.waiting()];
    const budget = KEEPALIVE_LIMIT - this.keepaliveBytes;
    const counts = packBatches(waiting.map((e) => e.size), budget, MAX_BATCH_EVENTS, ENVELOPE_BYTES);
    let start = 0;
    for (const n of counts) {
      const batch = waiting.slice(start, (start += n));
      this.queue.seal(batch);
      void this.deliver(batch, true).then(() => this.schedule());
    }
    this.inflight = null; // sent again above: not twice on a second hide
  };

  /** Send one sealed batch and settle it; `true` when the server answered for it for good. */
  private async deliver(batch: Entry[], keepalive: boolean, refreshed = false): Promise<boolean> {
    const body = JSON.stringify({ sent_at: new Date().toISOString(), events: batch.map((e) => e.event) });
    const bytes = encoder.encode(body).length;
    if (keepalive) this.keepaliveBytes += bytes;
    let answer: Answer;
    try {
      answer = await postBatch(this.opts.fetch, `${this.opts.endpoint}/v1/events`, this.token, body, keepalive);
    } finally {
      if (keepalive) this.keepaliveBytes -= bytes;
    }
    const verdict = classify(answer.status);
    const events = batch.map((e) => e.event);
    if (verdict === "delivered") {
      this.delivered(batch, answer.body);
      return true;
    }
    if (verdict === "retry") {
      this.queue.settle(batch, false);
      this.queue.stats.retries += 1;
      const retryAfter = parseRetryAfter(answer.retryAfter, Date.now());
      const delay = retryDelayMs(this.attempt++, retryAfter, {
        baseMs: this.opts.backoffBaseMs, capMs: this.opts.backoffMaxMs, retryAfterMaxMs: this.opts.retryAfterMaxMs,
      }, Math.random());
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
      return false;
    }
    if (verdict === "auth") {
      if (!refreshed && (await this.refresh())) return this.deliver(batch, keepalive, true);
      this.queue.settle(batch, false);
      this.authBlocked = true; // kept in storage until setToken()
      this.report(new WaymarkError("unauthorized", "user token refused; sending paused until setToken()", 401), events);
      return false;
    }
    this.queue.settle(batch, true);
    this.queue.stats.failed += batch.length;
    this.report(new WaymarkError("refused", `batch refused with ${answer.status}: ${answer.body.slice(0, 200)}`, answer.status), events);
    return true;
  }

  private delivered(batch: Entry[], body: string): void {
    let result: BatchResult = { accepted: batch.length, duplicates: 0, rejected: [] };
    try {
      result = { ...result, ...(JSON.parse(body) as Partial<BatchResult>) };
    } catch {
      // a 2xx whose body does not parse still means the batch was taken
    }
    this.queue.settle(batch, true);
    this.attempt = 0;
    this.pausedUntil = 0;
    const stats = this.queue.stats;
    stats.batches += 1;
    stats.accepted += result.accepted;
    stats.duplicates += result.duplicates;
    stats.rejected += result.rejected.length;
    if (result.rejected.length > 0) {
      const events = result.rejected.map((r) => batch[r.index]?.event).filter((e): e is WaymarkEvent => !!e);
      const first = result.rejected[0]!;
      this.report(new WaymarkError(first.code, `${result.rejected.length} event(s) rejected: ${first.message}`, 202), events);
    }
    for (const listener of this.listeners) listener(result);
  }

  private async refresh(): Promise<boolean> {
    if (!this.opts.refreshToken) return false;
    try {
      const token = await this.opts.refreshToken();
      if (token) this.token = token;
      return !!token;
    } catch {
      return false;
    }
  }

  private report(error: WaymarkError, events: WaymarkEvent[]): void {
    try {
      this.opts.onError?.(error, events);
    } catch {
      // a failing callback must not stop delivery
    }
  }
}
