import { describe, expect, it } from "vitest";
import { backoffMs, classify, packBatches, parseRetryAfter, retryDelayMs } from "../src/policy.js";

const opts = { baseMs: 500, capMs: 30_000, retryAfterMaxMs: 60_000 };

describe("what an answer means", () => {
  it("retries network errors, 5xx, 408 and 429 and nothing else", () => {
    expect([null, 500, 503, 408, 429].map(classify)).toEqual(["retry", "retry", "retry", "retry", "retry"]);
    expect([200, 202].map(classify)).toEqual(["delivered", "delivered"]);
    expect([400, 403, 404, 413, 415, 301].map(classify)).toEqual(Array(6).fill("final"));
    expect(classify(401)).toBe("auth");
  });
});

describe("back-off", () => {
  it("grows exponentially with full jitter up to the cap", () => {
    expect(backoffMs(0, 500, 30_000, 0.999)).toBeLessThan(500);
    expect(backoffMs(3, 500, 30_000, 0.5)).toBe(2000);
    expect(backoffMs(20, 500, 30_000, 1)).toBe(30_000);
    expect(backoffMs(5000, 500, 30_000, 0)).toBe(0);
  });

  it("never retries sooner than Retry-After, clamped to its maximum", () => {
    expect(retryDelayMs(0, 3000, opts, 0.1)).toBe(3000);
    expect(retryDelayMs(10, 1000, opts, 1)).toBe(30_000);
    expect(retryDelayMs(0, 3_600_000, opts, 0)).toBe(60_000);
    expect(retryDelayMs(2, null, opts, 0.5)).toBe(1000);
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe("packing batches into the keepalive budget", () => {
  it("fills batches in order and leaves what does not fit", () => {
    expect(packBatches([100, 100, 100], 1000, 500, 50)).toEqual([3]);
    expect(packBatches([400, 400, 400], 1000, 500, 50)).toEqual([2]);
    expect(packBatches([100, 100, 100, 100], 10_000, 2, 50)).toEqual([2, 2]);
    expect(packBatches([2000], 1000, 500, 50)).toEqual([]);
  });
});
