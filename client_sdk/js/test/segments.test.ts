import { describe, expect, it } from "vitest";
import { Segments } from "../src/segments.js";

describe("the union of played segments", () => {
  it("merges overlapping and touching segments", () => {
    const s = new Segments([[0, 10], [5, 12], [12, 15], [30, 40]]);
    expect(s.toArray()).toEqual([[0, 15], [30, 40]]);
    expect(s.total()).toBe(25);
    expect(s.toString()).toBe("0[.]15[,]30[.]40");
  });

  it("counts a segment played twice once", () => {
    const s = new Segments([[0, 20], [0, 20], [5, 10]]);
    expect(s.percentOf(40)).toBe(50);
  });

  it("bridges segments when the gap between them is played", () => {
    const s = new Segments([[0, 10], [20, 30]]);
    s.add(9, 21);
    expect(s.toArray()).toEqual([[0, 30]]);
  });

  it("gives no progress without a known duration and never more than 100", () => {
    expect(new Segments([[0, 5]]).percentOf(Number.POSITIVE_INFINITY)).toBe(0);
    expect(new Segments([[0, 5]]).percentOf(Number.NaN)).toBe(0);
    expect(new Segments([[0, 60.0001]]).percentOf(60)).toBe(100);
  });

  it("ignores empty and reversed segments", () => {
    const s = new Segments([[3, 3], [5, 2]]);
    expect(s.total()).toBe(0);
  });
});
