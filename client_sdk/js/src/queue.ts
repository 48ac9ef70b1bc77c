/**
 * The client's queue: merge, seq stamping, batching and persistence, with no timers and no I/O.
 *
 * Invariants:
 * - Events leave in the order they were queued; an event that entered a batch is sealed: it is
 *   never merged into again, and its id, seq and content stay fixed across every retry, reload
 *   and replay.
 * - `seq` is stamped once, when an event enters the persisted queue of a claimed slot, from that
 *   slot's counter, so it grows strictly per `source_id` however often the page reloads.
 * - Every change is written through to the store at once (a synchronous write), so whatever the
 *   page has queued survives it being closed a moment later.
 */

import { chapterOf, type ChapterProgress, toMs, type WaymarkEvent } from "./events.js";
import { mergeProgress } from "./merge.js";

/** What a slot keeps in storage: its source, the next seq to stamp, the events not yet settled. */
export interface Saved {
  source: string;
  seq: number;
  events: WaymarkEvent[];
}

export interface QueueStore {
  /** Write the whole state; may throw (storage full, disabled). */
  save(state: Saved): void;
}

export interface Entry {
  event: WaymarkEvent;
  size: number;
  /** When it was queued (client clock, ms). */
  at: number;
  /** The oldest `ts` folded into it. */
  firstMs: number;
  sending: boolean;
}

/** Counters since the page loaded. */
export interface Stats {
  /** Events queued now (waiting or in flight). */
  queued: number;
  enqueued: number;
  /** Progress events folded into a queued one of the same chapter. */
  merged: number;
  /** Events refused because the queue was full (`maxQueueSize`). */
  dropped: number;
  batches: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Events given up: a final 4xx answer. */
  failed: number;
  retries: number;
  storageErrors: number;
}

const encoder = new TextEncoder();
const byteSize = (event: WaymarkEvent): number => encoder.encode(JSON.stringify(event)).length;

export class Queue {
  readonly stats: Stats = {
    queued: 0, enqueued: 0, merged: 0, dropped: 0, batches: 0, accepted: 0,
    duplicates: 0, rejected: 0, failed: 0, retries: 0, storageErrors: 0,
  };
  private entries: Entry[] = [];
  private readonly tails = new Map<string, Entry>();
  private source: string | null = null;
  private nextSeq = 1;
  private store: QueueStore | null = null;

  constructor(
    private readonly maxSize: number,
    private readonly mergeWindowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Take over a claimed slot: events restored from storage (sealed, stamped long ago) go first,
   * then what was queued before the claim, stamped now with the slot's seqs.
   */
  attach(saved: Saved, restored: WaymarkEvent[], store: QueueStore): void {
    this.source = saved.source;
    this.nextSeq = saved.seq;
    for (const entry of this.entries) this.stamp(entry.event);
    const now = this.now();
    const old = restored.map((event) => ({ event, size: byteSize(event), at: now, firstMs: toMs(event.ts), sending: false }));
    this.entries = [...old, ...this.entries];
    this.store = store;
    this.persist();
  }

  /** Whether events get a `source_id` and `seq` (a slot is claimed). */
  get attached(): boolean {
    return this.source !== null;
  }

  /** Queue an event; `false` (and counted) when the queue is full. */
  admit(event: WaymarkEvent): boolean {
    if (this.entries.length >= this.maxSize) {
      this.stats.dropped += 1;
      return false;
    }
    this.stats.enqueued += 1;
    const course = `${event.user_id}\n${event.course_id}\n`;
    const chapter = chapterOf(event);
    if (event.type === "course_reset") {
      for (const key of [...this.tails.keys()]) if (key.startsWith(course)) this.tails.delete(key);
    } else if (chapter !== undefined) {
      const key = course + chapter;
      const tail = this.tails.get(key);
      this.tails.delete(key);
      if (event.type === "chapter_progress") {
        if (tail && this.mergeInto(tail, event)) {
          this.tails.set(key, tail);
        } else {
          this.tails.set(key, this.append(event));
        }
        this.persist();
        return true;
      }
    }
    this.append(event);
    this.persist();
    return true;
  }

  private mergeInto(tail: Entry, event: ChapterProgress): boolean {
    const merged = mergeProgress(tail.event as ChapterProgress, event, tail.firstMs, this.mergeWindowMs);
    if (merged === null) return false;
    tail.event = merged;
    tail.firstMs = Math.min(tail.firstMs, toMs(event.ts));
    tail.size = byteSize(merged);
    this.stats.merged += 1;
    return true;
  }

  private append(event: WaymarkEvent): Entry {
    const stamped = { ...event };
    if (this.source !== null) this.stamp(stamped);
    const entry = { event: stamped, size: byteSize(stamped), at: this.now(), firstMs: toMs(event.ts), sending: false };
    this.entries.push(entry);
    return entry;
  }

  private stamp(event: WaymarkEvent): void {
    event.source_id = this.source!;
    event.seq = this.nextSeq++;
  }

  /** Events not in flight. */
  waiting(): Entry[] {
    return this.entries.filter((e) => !e.sending);
  }

  /** Milliseconds until a batch is due (0: now), or `null` when nothing waits. */
  dueIn(flushAt: number, intervalMs: number): number | null {
    const waiting = this.waiting();
    if (waiting.length === 0) return null;
    if (waiting.length >= flushAt) return 0;
    return Math.max(0, waiting[0]!.at + intervalMs - this.now());
  }

  /** Seal and mark as in flight the given waiting entries (in queue order). */
  seal(batch: Entry[]): void {
    for (const entry of batch) {
      entry.sending = true;
      const chapter = chapterOf(entry.event);
      if (chapter === undefined) continue;
      const key = `${entry.event.user_id}\n${entry.event.course_id}\n${chapter}`;
      if (this.tails.get(key) === entry) this.tails.delete(key);
    }
  }

  /** A batch was answered for (`done`: delivered or refused for good) or must wait for a retry. */
  settle(batch: Entry[], done: boolean): void {
    if (!done) {
      for (const entry of batch) entry.sending = false;
      return;
    }
    const gone = new Set(batch);
    this.entries = this.entries.filter((e) => !gone.has(e));
    this.persist();
  }

  /** Events queued now. */
  get length(): number {
    return this.entries.length;
  }

  private persist(): void {
    this.stats.queued = this.entries.length;
    if (this.store === null || this.source === null) return;
    try {
      this.store.save({ source: this.source, seq: this.nextSeq, events: this.entries.map((e) => e.event) });
    } catch {
      this.stats.storageErrors += 1; // kept in memory: still sent while the page lives
    }
  }
}
