/**
 * Client-side merge of consecutive `chapter_progress` events of one chapter (pure).
 *
 * The server folds progress with max / sum / last-writer-wins, so two progress events of one
 * chapter can be sent as one without changing the stored result, provided nothing else about
 * that chapter (a completion, an uncomplete, a quiz for it, a course reset) sits between them,
 * the seconds still fit one event (`time_spent_s` ≤ 3600), and the newest of the two carries
 * the position if either does. The merged event keeps the earlier event's `id` and `seq`: the
 * earlier one was never sent, so the server never sees one id with two contents.
 */

import { type ChapterProgress, toMs } from "./events.js";

export const MAX_TIME_SPENT_S = 3600;

/** `earlier` and `later` as one event, or `null` when they must stay apart. */
export function mergeProgress(
  earlier: ChapterProgress,
  later: ChapterProgress,
  spanStartMs: number,
  windowMs: number,
): ChapterProgress | null {
  const tEarlier = toMs(earlier.ts);
  const tLater = toMs(later.ts);
  // A run is not merged past the window, so a merged event never hides a long stretch.
  if (Math.max(tEarlier, tLater) - Math.min(spanStartMs, tLater) > windowMs) return null;
  const spent = (earlier.time_spent_s ?? 0) + (later.time_spent_s ?? 0);
  if (spent > MAX_TIME_SPENT_S) return null;
  // The merged event carries the newest ts, so it may only carry the newest event's position:
  // an older position under a newer ts would beat, on last-writer-wins, a position another
  // device recorded in between. A tie in ts goes to the later event.
  const laterIsNewest = tLater > tEarlier || (tLater === tEarlier && later.id >= earlier.id);
  const newest = laterIsNewest ? later : earlier;
  const other = laterIsNewest ? earlier : later;
  if (newest.position_s === undefined && other.position_s !== undefined) return null;
  const merged: ChapterProgress = {
    ...earlier,
    progress: Math.max(earlier.progress, later.progress),
    time_spent_s: spent,
    ts: newest.ts,
  };
  if (newest.position_s === undefined) delete merged.position_s;
  else merged.position_s = newest.position_s;
  return merged;
}
