// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WaymarkClient } from "../src/client.js";
import { trackMedia } from "../src/media.js";
import { scriptedFetch, tokenFor } from "./fakes.js";

/** A media element whose clock the test turns: 4 `timeupdate`s per second of playing. */
class FakeMedia extends EventTarget {
  currentTime = 0;
  duration = 60;
  paused = true;
  seeking = false;
  playbackRate = 1;
  play(): void {
    this.paused = false;
    this.fire("play", "playing");
  }
  pause(): void {
    this.paused = true;
    this.fire("pause");
  }
  seek(to: number): void {
    this.seeking = true;
    this.currentTime = to;
    this.fire("seeking");
    this.seeking = false;
    this.fire("seeked");
  }
  /** Play (or sit paused) for `seconds` of wall time. */
  run(seconds: number): void {
    for (let i = 0; i < seconds * 4; i++) {
      vi.advanceTimersByTime(250);
      if (this.paused) continue;
      this.currentTime = Math.min(this.duration, this.currentTime + 0.25 * this.playbackRate);
      this.fire("timeupdate");
      if (this.currentTime >= this.duration) {
        this.paused = true;
        this.fire("pause", "ended");
      }
    }
  }
  fire(...types: string[]): void {
    for (const type of types) this.dispatchEvent(new Event(type));
  }
}

function setup(options: Partial<Parameters<typeof trackMedia>[2]> = {}) {
  const { fetch, sent } = scriptedFetch();
  const client = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u-1"), fetch, storage: null });
  const media = new FakeMedia();
  const tracker = trackMedia(client, media as unknown as HTMLMediaElement, { courseId: "c", chapterId: "ch-1", persistSegments: false, ...options });
  const events = async () => {
    await client.flush();
    return sent.flatMap((s) => s.body.events);
  };
  return { client, media, tracker, events, sent };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"] });
  localStorage.clear();
});
afterEach(() => vi.useRealTimers());

describe("the media helper", () => {
  it("sends the union of played segments over the duration, the playing time and the position", async () => {
    const { media, tracker, events } = setup();
    media.play();
    media.run(10); // 0 → 10
    media.seek(50);
    media.run(5); // 50 → 55
    media.pause();
    const snap = tracker.snapshot();
    expect(snap.segments).toEqual([[0, 10], [50, 55]]);
    expect(snap.progress).toBe(25);
    expect(snap.timeSpentS).toBeCloseTo(15, 6);
    const sent = await events();
    const time = sent.reduce((t, e) => t + (e.time_spent_s as number), 0);
    expect(time).toBeCloseTo(15, 6);
    expect(Math.max(...sent.map((e) => e.progress as number))).toBe(25);
    expect(sent.at(-1)).toMatchObject({ type: "chapter_progress", position_s: 55 });
  });

  it("counts no time while paused and at most maxTickS for one long tick", async () => {
    const { media, tracker } = setup({ maxTickS: 2 });
    media.play();
    media.run(4);
    media.pause();
    media.run(30);
    media.play();
    vi.advanceTimersByTime(60_000); // the laptop slept; then one timeupdate
    media.currentTime += 0.25;
    media.fire("timeupdate");
    expect(tracker.snapshot().timeSpentS).toBeCloseTo(6, 6);
  });

  it("does not complete a video seeked to its end", async () => {
    const { media, tracker, events } = setup();
    media.play();
    media.run(3);
    media.seek(59);
    media.run(2); // plays to the end
    expect(tracker.snapshot()).toMatchObject({ progress: 6.67, completed: false });
    expect((await events()).some((e) => e.type === "chapter_completed")).toBe(false);
  });

  it("completes once the union reaches completeAt, once", async () => {
    const { media, events } = setup({ completeAt: 50, intervalS: 5 });
    media.playbackRate = 2;
    media.play();
    media.run(20); // 0 → 40 of 60
    media.seek(0);
    media.run(5);
    const sent = await events();
    expect(sent.filter((e) => e.type === "chapter_completed")).toHaveLength(1);
  });

  it("goes on with the segment when the resume event arrives after the media moved", () => {
    const { media, tracker } = setup();
    media.play();
    media.run(2);
    media.pause();
    media.paused = false;
    media.currentTime += 0.5; // played before "playing" was dispatched
    media.fire("playing");
    media.run(1);
    expect(tracker.snapshot().segments).toEqual([[0, 3.5]]);
  });

  it("counts wall time, not media time, at a faster playback rate", async () => {
    const { media, tracker } = setup();
    media.playbackRate = 2;
    media.play();
    media.run(10);
    expect(tracker.snapshot()).toMatchObject({ progress: 33.33 });
    expect(tracker.snapshot().timeSpentS).toBeCloseTo(10, 6);
  });

  it("records the last tick and sends it with keepalive when the page is hidden", async () => {
    const { media, sent } = setup();
    media.play();
    media.run(3);
    window.dispatchEvent(new Event("pagehide"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.keepalive).toBe(true);
    expect(sent[0]!.body.events[0]).toMatchObject({ progress: 5, time_spent_s: 3, position_s: 3 });
  });

  it("keeps the union of earlier visits in this browser", () => {
    const first = setup({ persistSegments: true });
    first.media.play();
    first.media.run(15);
    first.tracker.detach();
    const second = setup({ persistSegments: true });
    second.media.seek(30);
    second.media.play();
    second.media.run(15);
    expect(second.tracker.snapshot()).toMatchObject({ progress: 50, segments: [[0, 15], [30, 45]] });
  });
});

describe("sending on hide", () => {
  it("sends within the 64 KiB keepalive budget and keeps the rest for later", async () => {
    const { fetch, sent } = scriptedFetch([]);
    const client = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u-1"), fetch, storage: null, flushAt: 1000 });
    await client.ready;
    const big = "x".repeat(4000);
    for (let i = 0; i < 30; i++) client.track({ type: "course_viewed", course_id: `c-${i}`, chapter_id: `ch-${i}`, note: big } as never);
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
    const bytes = sent.reduce((n, s) => n + JSON.stringify(s.body).length, 0);
    expect(sent.every((s) => s.keepalive)).toBe(true);
    expect(bytes).toBeLessThanOrEqual(64 * 1024);
    const first = sent.flatMap((s) => s.body.events).length;
    expect(first).toBeGreaterThan(10);
    expect(first).toBeLessThan(30);
    await client.flush();
    expect(sent.flatMap((s) => s.body.events)).toHaveLength(30);
  });
});
