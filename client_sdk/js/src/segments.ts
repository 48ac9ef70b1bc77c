/**
 * The union of played segments of a media timeline (the xAPI video profile's
 * `played-segments`), kept as sorted, disjoint [start, end] pairs.
 */

export class Segments {
  private parts: [number, number][] = [];

  constructor(parts: Iterable<readonly [number, number]> = []) {
    for (const [start, end] of parts) this.add(start, end);
  }

  /** Add [start, end]; touching or overlapping segments become one. */
  add(start: number, end: number): void {
    if (!(end > start)) return;
    const kept: [number, number][] = [];
    let [lo, hi] = [start, end];
    for (const [a, b] of this.parts) {
      if (b < lo || a > hi) kept.push([a, b]);
      else [lo, hi] = [Math.min(a, lo), Math.max(b, hi)];
    }
    kept.push([lo, hi]);
    this.parts = kept.sort((x, y) => x[0] - y[0]);
  }

  /** Seconds covered. */
  total(): number {
    return this.parts.reduce((sum, [a, b]) => sum + b - a, 0);
  }

  /** Percent of `duration` covered, 2 decimals, at most 100. */
  percentOf(duration: number): number {
    if (!(duration > 0) || !Number.isFinite(duration)) return 0;
    return Math.min(100, Math.round((this.total() / duration) * 10_000) / 100);
  }

  toArray(): [number, number][] {
    return this.parts.map(([a, b]) => [a, b]);
  }

  /** The xAPI form: `0[.]12.5[,]40[.]48`. */
  toString(): string {
    return this.parts.map(([a, b]) => `${+a.toFixed(3)}[.]${+b.toFixed(3)}`).join("[,]");
  }
}
