import { describe, expect, it } from "vitest";
import { chapterOf, type WaymarkEvent } from "../src/events.js";
import { Queue, type Saved } from "../src/queue.js";

let n = 0;
const progress = (chapter: string, extra: Record<string, unknown> = {}): WaymarkEvent => ({
  id: `e${++n}`, type: "chapter_progress", user_id: "u", course_id: "c", chapter_id: chapter,
  ts: 1000 + n, progress: 10, time_spent_s: 1, position_s: n, ...extra,
} as WaymarkEvent);
const other = (type: string, chapter?: string): WaymarkEvent =>
  ({ id: `e${++n}`, type, user_id: "u", course_id: "c", ts: 1000 + n, ...(chapter ? { chapter_id: chapter } : {}) }) as WaymarkEvent;

function attached(maxSize = 100): { queue: Queue; saves: Saved[] } {
  const saves: Saved[] = [];
  const queue = new Queue(maxSize, 60_000, () => 0);
  queue.attach({ source: "src-1", seq: 7, events: [] }, [], { save: (s) => saves.push(structuredClone(s)) });
  return { queue, saves };
}

describe("the queue", () => {
  it("merges consecutive progress of a chapter into one event, across other chapters", () => {
    const { queue } = attached();
    queue.admit(progress("a", { progress: 20 }));
    queue.admit(progress("b"));
    queue.admit(progress("a", { progress: 50, time_spent_s: 2 }));
    const events = queue.waiting().map((e) => e.event);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ chapter_id: "a", progress: 50, time_spent_s: 3, seq: 7 });
    expect(queue.stats.merged).toBe(1);
  });

  it("never merges across a completion, an uncomplete or a course reset", () => {
    for (const breaker of [other("chapter_completed", "a"), other("chapter_uncompleted", "a"), other("course_reset")]) {
      const { queue } = attached();
      queue.admit(progress("a"));
      queue.admit(breaker);
      queue.admit(progress("a"));
      expect(queue.waiting()).toHaveLength(3);
    }
  });

  it("never merges into an event that entered a batch, even after a failed send", () => {
    const { queue } = attached();
    queue.admit(progress("a"));
    const batch = queue.waiting();
    queue.seal(batch);
    queue.settle(batch, false);
    queue.admit(progress("a"));
    expect(queue.waiting().map((e) => e.event.seq)).toEqual([7, 8]);
  });

  it("stamps strictly increasing seqs from the slot and keeps them across retries", () => {
    const { queue } = attached();
    for (const c of ["a", "b", "c"]) queue.admit(progress(c));
    const batch = queue.waiting().slice(0, 2);
    queue.seal(batch);
    queue.settle(batch, false);
    expect(queue.waiting().map((e) => [e.event.source_id, e.event.seq])).toEqual([["src-1", 7], ["src-1", 8], ["src-1", 9]]);
  });

  it("writes every change through to storage and forgets settled events", () => {
    const { queue, saves } = attached();
    queue.admit(progress("a"));
    queue.admit(progress("b"));
    expect(saves.at(-1)).toMatchObject({ source: "src-1", seq: 9 });
    expect(saves.at(-1)!.events).toHaveLength(2);
    const batch = queue.waiting().slice(0, 1);
    queue.seal(batch);
    queue.settle(batch, true);
    expect(saves.at(-1)!.events.map(chapterOf)).toEqual(["b"]);
  });

  it("refuses events over its bound and counts them", () => {
    const { queue } = attached(2);
    expect([queue.admit(progress("a")), queue.admit(progress("b")), queue.admit(progress("c"))]).toEqual([true, true, false]);
    expect(queue.stats.dropped).toBe(1);
    expect(queue.length).toBe(2);
  });

  it("puts restored events first and stamps the ones queued before the claim after them", () => {
    const queue = new Queue(100, 60_000, () => 0);
    queue.admit(progress("early"));
    expect(queue.attached).toBe(false);
    const restored = [{ ...progress("old"), source_id: "src-1", seq: 3 }];
    queue.attach({ source: "src-1", seq: 4, events: restored }, restored, { save() {} });
    expect(queue.waiting().map((e) => [chapterOf(e.event), e.event.seq])).toEqual([["old", 3], ["early", 4]]);
  });

  it("is due at flushAt events or once the oldest waited the interval", () => {
    let now = 0;
    const queue = new Queue(100, 60_000, () => now);
    queue.attach({ source: "s", seq: 1, events: [] }, [], { save() {} });
    expect(queue.dueIn(2, 5000)).toBeNull();
    queue.admit(progress("a"));
    now = 1000;
    expect(queue.dueIn(2, 5000)).toBe(4000);
    queue.admit(progress("b"));
    expect(queue.dueIn(2, 5000)).toBe(0);
  });

  it("counts a storage failure and keeps the event in memory", () => {
    const queue = new Queue(100, 60_000);
    queue.attach({ source: "s", seq: 1, events: [] }, [], { save: () => { throw new DOMException("full", "QuotaExceededError"); } });
    expect(queue.admit(progress("a"))).toBe(true);
    expect(queue.stats.storageErrors).toBe(2);
    expect(queue.length).toBe(1);
  });
});
