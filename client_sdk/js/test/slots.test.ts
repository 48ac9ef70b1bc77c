import { describe, expect, it } from "vitest";
import type { WaymarkEvent } from "../src/events.js";
import { claimSlot, read } from "../src/slots.js";
import { FakeLocks, MemoryStorage } from "./fakes.js";

let sources = 0;
const newSource = (): string => `source-${++sources}`;
const ev = (id: string, seq: number, source: string): WaymarkEvent =>
  ({ id, type: "course_viewed", user_id: "u", course_id: "c", ts: 1, source_id: source, seq }) as WaymarkEvent;

describe("persisted slots", () => {
  it("gives two open tabs two slots with their own sources", async () => {
    const storage = new MemoryStorage();
    const locks = new FakeLocks();
    const a = await claimSlot(storage, locks, "wm", newSource);
    const b = await claimSlot(storage, locks, "wm", newSource);
    expect(a!.saved.source).not.toBe(b!.saved.source);
    expect([...locks.held]).toEqual(["wm:slot:0", "wm:slot:1"]);
  });

  it("gives a reloaded tab its slot back: same source, next seq, queued events", async () => {
    const storage = new MemoryStorage();
    const locks = new FakeLocks();
    const first = await claimSlot(storage, locks, "wm", newSource);
    first!.store.save({ source: first!.saved.source, seq: 3, events: [ev("x", 2, first!.saved.source)] });
    first!.release();
    await Promise.resolve();
    const again = await claimSlot(storage, locks, "wm", newSource);
    expect(again!.saved).toMatchObject({ source: first!.saved.source, seq: 3 });
    expect(again!.restored.map((e) => e.id)).toEqual(["x"]);
  });

  it("lets exactly one tab adopt the events of a closed tab", async () => {
    const storage = new MemoryStorage();
    storage.setItem("wm:slot:1", JSON.stringify({ source: "gone", seq: 9, events: [ev("o1", 7, "gone"), ev("o2", 8, "gone")] }));
    const locks = new FakeLocks();
    const [a, b] = await Promise.all([claimSlot(storage, locks, "wm", newSource), claimSlot(storage, locks, "wm", newSource)]);
    const adopted = [...a!.restored, ...b!.restored].map((e) => e.id);
    expect(adopted.sort()).toEqual(["o1", "o2"]);
    // The orphan's source keeps its counter for the next tab that takes its slot.
    expect(read(storage, "wm:slot:1")).toMatchObject({ source: "gone", seq: 9, events: [] });
  });

  it("copies adopted events into its own slot before clearing the old one", async () => {
    const storage = new MemoryStorage();
    storage.setItem("wm:slot:2", JSON.stringify({ source: "gone", seq: 2, events: [ev("o1", 1, "gone")] }));
    const claimed = await claimSlot(storage, new FakeLocks(), "wm", newSource);
    expect(read(storage, "wm:slot:0")!.events.map((e) => e.id)).toEqual(["o1"]);
    expect(claimed!.restored.map((e) => e.id)).toEqual(["o1"]);
  });

  it("starts a slot over when its stored value is unreadable", async () => {
    const storage = new MemoryStorage();
    storage.setItem("wm:slot:0", "{not json");
    const claimed = await claimSlot(storage, new FakeLocks(), "wm", newSource);
    expect(claimed!.saved.seq).toBe(1);
    expect(claimed!.restored).toEqual([]);
  });
});
