import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ClientOptions, WaymarkClient, type WaymarkError } from "../src/client.js";
import { FakeLocks, MemoryStorage, scriptedFetch, tokenFor } from "./fakes.js";

type Replies = Parameters<typeof scriptedFetch>[0];

function client(replies: Replies = [], extra: Partial<ClientOptions> = {}) {
  const { fetch, sent } = scriptedFetch(replies);
  const c = new WaymarkClient({ endpoint: "http://api.test/", token: tokenFor("u-7"), fetch, storage: null, ...extra });
  return { c, sent };
}

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse("2026-03-01T10:00:00Z") });
  vi.spyOn(Math, "random").mockReturnValue(0.5);
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("batching", () => {
  it("sends after the flush interval, with the user from the token and UUIDv7 ids", async () => {
    const { c, sent } = client();
    c.progress("py-101", "ch-1", 10, { position_s: 3, time_spent_s: 3 });
    await vi.advanceTimersByTimeAsync(4900);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toHaveLength(1);
    const [event] = sent[0]!.body.events;
    expect(sent[0]!.url).toBe("http://api.test/v1/events");
    expect(sent[0]!.headers.Authorization).toMatch(/^Bearer /);
    expect(event).toMatchObject({ type: "chapter_progress", user_id: "u-7", course_id: "py-101", seq: 1 });
    expect(event!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(typeof event!.source_id).toBe("string");
  });

  it("sends at once when flushAt events wait", async () => {
    const { c, sent } = client([], { flushAt: 3 });
    for (const ch of ["a", "b", "c"]) c.viewed("py-101", ch);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.body.events.length)).toEqual([3]);
  });

  it("sends consecutive progress of a chapter as one event", async () => {
    const { c, sent } = client();
    for (let i = 1; i <= 5; i++) c.progress("py-101", "ch-1", i * 10, { position_s: i, time_spent_s: 2 });
    await c.flush();
    expect(sent[0]!.body.events).toHaveLength(1);
    expect(sent[0]!.body.events[0]).toMatchObject({ progress: 50, time_spent_s: 10, position_s: 5 });
    expect(c.stats()).toMatchObject({ merged: 4, accepted: 1, queued: 0 });
  });
});

describe("retries", () => {
  it("waits the Retry-After of a 429 and resends the same ids and seqs", async () => {
    const { c, sent } = client([{ status: 429, headers: { "Retry-After": "3" } }]);
    c.viewed("py-101");
    await c.flush();
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2900);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.body.events).toEqual(sent[0]!.body.events);
    expect(c.stats()).toMatchObject({ retries: 1, accepted: 1, queued: 0 });
  });

  it("backs off exponentially on network errors and 5xx", async () => {
    const { c, sent } = client(["network-error", { status: 503 }, { status: 500 }]);
    c.viewed("py-101");
    await c.flush();
    const times: number[] = [Date.now()];
    for (let i = 0; i < 3; i++) {
      while (sent.length === times.length) await vi.advanceTimersByTimeAsync(10);
      times.push(Date.now());
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Math.random() is 0.5: half of 500, 1000, 2000 ms.
    expect(gaps.map((g) => Math.round(g / 10) * 10)).toEqual([250, 500, 1000]);
    expect(c.stats().accepted).toBe(1);
  });

  it("never retries another 4xx and reports the events", async () => {
    const errors: [WaymarkError, number][] = [];
    const { c, sent } = client([{ status: 400, body: { error: { code: "invalid_batch", message: "x" } } }], {
      onError: (e, events) => errors.push([e, events.length]),
    });
    c.viewed("py-101");
    await c.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toHaveLength(1);
    expect(errors.map(([e, n]) => [e.status, n])).toEqual([[400, 1]]);
    expect(c.stats()).toMatchObject({ failed: 1, queued: 0 });
  });

  it("reports the events a 202 rejected", async () => {
    const errors: string[] = [];
    const { c } = client([{ status: 202, body: { accepted: 1, duplicates: 0, rejected: [{ index: 1, code: "invalid_event", message: "bad" }] } }], {
      onError: (e, events) => errors.push(`${e.code}:${events.map((ev) => ev.course_id)}`),
    });
    c.viewed("ok");
    c.viewed("bad!");
    await c.flush();
    expect(errors).toEqual(["invalid_event:bad!"]);
    expect(c.stats()).toMatchObject({ accepted: 1, rejected: 1 });
  });
});

describe("user tokens", () => {
  it("refreshes the token once on a 401 and retries with it", async () => {
    const refreshToken = vi.fn(async () => "fresh.token.sig");
    const { c, sent } = client([{ status: 401 }], { refreshToken });
    c.viewed("py-101");
    await c.flush();
    expect(refreshToken).toHaveBeenCalledOnce();
    expect(sent.map((s) => s.headers.Authorization)).toEqual([expect.stringMatching(/^Bearer ey/), "Bearer fresh.token.sig"]);
    expect(c.stats().accepted).toBe(1);
  });

  it("pauses, keeping the events, when the refresh gives nothing, until setToken()", async () => {
    const errors: string[] = [];
    const { c, sent } = client([{ status: 401 }], { refreshToken: () => null, onError: (e) => errors.push(e.code) });
    c.viewed("py-101");
    await c.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toHaveLength(1);
    expect(errors).toEqual(["unauthorized"]);
    c.setToken("new.token.sig");
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(2);
    expect(c.stats()).toMatchObject({ accepted: 1, queued: 0 });
  });

  it("reads the learner's course progress with the token, null before any", async () => {
    const { fetch, sent } = scriptedFetch([{ status: 200, body: { course_id: "py-101", modules: [], other_chapters: [] } }, { status: 404 }]);
    const c = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u 7"), fetch, storage: null });
    expect(await c.readCourse("py-101")).toMatchObject({ course_id: "py-101" });
    expect(await c.readCourse("other")).toBeNull();
    expect(sent[0]!.url).toBe("http://api.test/v1/users/u%207/courses/py-101");
  });
});

describe("persistence", () => {
  it("replays a queue left by a closed page exactly once, with its ids and seqs", async () => {
    const storage = new MemoryStorage();
    const locks = new FakeLocks();
    const first = client(["network-error"], { storage, locks });
    await first.c.ready;
    first.c.viewed("py-101", "ch-1");
    first.c.viewed("py-101", "ch-2");
    await first.c.flush(); // offline: kept
    first.c.close();
    const queued = first.sent[0]!.body.events;

    const second = client([], { storage, locks });
    const third = client([], { storage, locks }); // another tab opened at the same time
    await Promise.all([second.c.ready, third.c.ready]);
    second.c.viewed("py-101", "ch-3");
    await Promise.all([second.c.flush(), third.c.flush()]);
    const replayed = [...second.sent, ...third.sent].flatMap((s) => s.body.events);
    expect(replayed).toHaveLength(3);
    for (const event of queued) expect(replayed.filter((e) => e.id === event.id)).toEqual([event]);
    const stamps = replayed.map((e) => `${e.source_id}/${e.seq}`);
    expect(new Set(stamps).size).toBe(3);
  });
});
