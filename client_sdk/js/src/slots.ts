/**
 * Persisted queues ("slots") in `localStorage`, each owned by one tab at a time through a Web
 * Lock.
 *
 * A tab claims the lowest free slot and keeps its lock until it is gone, so two tabs never
 * stamp seqs from the same counter or send the same queued events. Slot 0's `source_id` is
 * this browser's; a second tab open at the same time gets slot 1 and its own source, and so on.
 * A tab then adopts the events left in slots nobody holds (a tab closed while offline): they
 * are written into its own slot first and only then removed from the old one, so a crash in
 * between leaves a copy, never a gap, and the server drops the copy by `source_id`/`seq`.
 * `localStorage` is chosen over IndexedDB because its writes are synchronous: an event queued
 * a moment before the tab closes is already on disk.
 */

import type { WaymarkEvent } from "./events.js";
import type { QueueStore, Saved } from "./queue.js";

export const MAX_SLOTS = 16;

/** The part of `navigator.locks` used here. */
export interface Locks {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown): Promise<unknown>;
}

export interface Claimed {
  saved: Saved;
  /** The slot's own events, then those adopted from unheld slots. */
  restored: WaymarkEvent[];
  store: QueueStore;
  release: () => void;
}

/** The lock `name` if no one holds it, kept until the returned function is called. */
export function tryLock(locks: Locks, name: string): Promise<(() => void) | null> {
  return new Promise((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) return resolve(null);
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

export function read(storage: Storage, key: string): Saved | null {
  try {
    const value = JSON.parse(storage.getItem(key) ?? "null") as Saved | null;
    const ok = value !== null && typeof value.source === "string" && Number.isInteger(value.seq) && Array.isArray(value.events);
    return ok ? value : null;
  } catch {
    return null; // unreadable: the slot starts over rather than the client failing
  }
}

/** Claim a slot and adopt orphaned events; `null` when every slot is held. */
export async function claimSlot(storage: Storage, locks: Locks, prefix: string, newSource: () => string): Promise<Claimed | null> {
  const key = (i: number): string => `${prefix}:slot:${i}`;
  let own = -1;
  let release: (() => void) | null = null;
  for (let i = 0; i < MAX_SLOTS && release === null; i++) {
    release = await tryLock(locks, key(i));
    own = i;
  }
  if (release === null) return null;
  const saved = read(storage, key(own)) ?? { source: newSource(), seq: 1, events: [] };
  const restored = [...saved.events];
  const store: QueueStore = { save: (state) => storage.setItem(key(own), JSON.stringify(state)) };
  for (let i = 0; i < MAX_SLOTS; i++) {
    if (i === own || !read(storage, key(i))?.events.length) continue;
    const releaseOther = await tryLock(locks, key(i));
    if (releaseOther === null) continue;
    try {
      const orphan = read(storage, key(i)); // read again: its owner may have sent them meanwhile
      if (orphan?.events.length) {
        store.save({ ...saved, events: [...restored, ...orphan.events] });
        restored.push(...orphan.events);
        storage.setItem(key(i), JSON.stringify({ ...orphan, events: [] }));
      }
    } catch {
      // storage full: the orphan stays where it is for a later tab
    } finally {
      releaseOther();
    }
  }
  return { saved, restored, store, release };
}
