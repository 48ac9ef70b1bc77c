/**
 * Delivery policy as pure functions: what an answer means, how long to wait, what fits a
 * keepalive request. Callers pass the clock and the random number, so tests are exact.
 */

export type Verdict = "delivered" | "retry" | "auth" | "final";

/** Network errors (`null`), 5xx, 408 and 429 are retried; 401 asks for a new token; other 4xx are final. */
export function classify(status: number | null): Verdict {
  if (status === null || status >= 500 || status === 408 || status === 429) return "retry";
  if (status >= 200 && status < 300) return "delivered";
  return status === 401 ? "auth" : "final";
}

/** Exponential back-off with full jitter: uniform in [0, min(cap, base·2^attempt)). */
export function backoffMs(attempt: number, baseMs: number, capMs: number, rand01: number): number {
  return rand01 * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 50));
}

/** Milliseconds asked by a `Retry-After` header (delta-seconds or HTTP-date), if any. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value == null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}

/**
 * Milliseconds to wait before retry number `attempt` (0-based): never sooner than the server
 * asked (clamped to `retryAfterMaxMs`, so a misconfigured server cannot park the client for
 * hours), and the jittered back-off still spreads clients told the same short `Retry-After`.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | null,
  opts: { baseMs: number; capMs: number; retryAfterMaxMs: number },
  rand01: number,
): number {
  const backoff = backoffMs(attempt, opts.baseMs, opts.capMs, rand01);
  return retryAfterMs === null ? backoff : Math.max(backoff, Math.min(retryAfterMs, opts.retryAfterMaxMs));
}

/** The browser's limit on the bodies of all keepalive requests in flight (Fetch standard). */
export const KEEPALIVE_LIMIT = 64 * 1024;

/**
 * Split events (by their encoded sizes) into batches whose JSON bodies all fit `budget` bytes
 * together; returns the batch lengths. What does not fit is left for later.
 */
export function packBatches(sizes: number[], budget: number, maxEvents: number, envelope: number): number[] {
  const counts: number[] = [];
  let left = budget;
  let i = 0;
  while (i < sizes.length) {
    let bytes = envelope;
    let n = 0;
    while (i + n < sizes.length && n < maxEvents && bytes + sizes[i + n]! + 1 <= left) {
      bytes += sizes[i + n]! + 1;
      n += 1;
    }
    if (n === 0) break;
    counts.push(n);
    left -= bytes;
    i += n;
  }
  return counts;
}
