import { describe, expect, it } from "vitest";
import type { ChapterProgress } from "../src/events.js";
import { mergeProgress } from "../src/merge.js";

const ev = (id: string, ts: number, extra: Partial<ChapterProgress> = {}): ChapterProgress => ({
  id, type: "chapter_progress", user_id: "u", course_id: "c", chapter_id: "ch", ts, progress: 10, ...extra,
});

describe("merging two progress events of a chapter", () => {
  it("keeps the highest progress, sums the time and takes the newest ts and position", () => {
    const merged = mergeProgress(
      ev("a", 1000, { progress: 40, time_spent_s: 5, position_s: 10 }),
      ev("b", 2000, { progress: 30, time_spent_s: 7.5, position_s: 3 }),
      1000, 60_000,
    );
    expect(merged).toMatchObject({ id: "a", progress: 40, time_spent_s: 12.5, ts: 2000, position_s: 3 });
  });

  it("keeps the earlier event's id and seq, which were never sent", () => {
    const merged = mergeProgress(ev("a", 1000, { seq: 4, source_id: "s" }), ev("b", 1500), 1000, 60_000);
    expect(merged).toMatchObject({ id: "a", seq: 4, source_id: "s" });
  });

  it("refuses a run longer than the window", () => {
    expect(mergeProgress(ev("a", 1000), ev("b", 70_000), 1000, 60_000)).toBeNull();
    expect(mergeProgress(ev("a", 50_000), ev("b", 70_000), 5_000, 60_000)).toBeNull();
  });

  it("refuses when the seconds would not fit one event", () => {
    expect(mergeProgress(ev("a", 1, { time_spent_s: 3000 }), ev("b", 2, { time_spent_s: 601 }), 1, 60_000)).toBeNull();
  });

  it("refuses when only the older event has a position", () => {
    expect(mergeProgress(ev("a", 1000, { position_s: 5 }), ev("b", 2000), 1000, 60_000)).toBeNull();
  });

  it("gives a later event that arrives with an older ts no say over the position", () => {
    const merged = mergeProgress(ev("b", 2000, { position_s: 9 }), ev("a", 1000, { position_s: 1 }), 2000, 60_000);
    expect(merged).toMatchObject({ ts: 2000, position_s: 9 });
  });
});
