/**
 * The media helper: `chapter_progress` from the time actually played in an `HTMLMediaElement`.
 *
 * - `progress` is the union of played segments ÷ duration (xAPI video profile), so seeking to
 *   the end does not complete a video; the union is kept per chapter in `localStorage`, so a
 *   learner who watches the two halves on two visits reaches 100 in this browser.
 * - `time_spent_s` is wall-clock time while playing: not paused, not seeking, not buffering,
 *   and at most `maxTickS` per `timeupdate` (a laptop lid closed mid-play adds nothing).
 * - `position_s` is the resume point; `chapter_completed` is sent once the union reaches
 *   `completeAt` percent (default 90; `null` leaves completion to the course's threshold).
 *
 * Events go out every `intervalS` of playing, on pause, seek, end, when the page is hidden and
 * on `detach()`; the client merges the ones of a chapter that wait in its queue.
 */

import type { WaymarkClient } from "./client.js";
import { Segments } from "./segments.js";

export interface MediaOptions {
  courseId: string;
  chapterId: string;
  /** Percent of union at which `chapter_completed` is sent; `null`: never. Default 90. */
  completeAt?: number | null;
  /** Seconds of playing between two events. Default 10. */
  intervalS?: number;
  /** Most seconds of time one `timeupdate` may add. Default 2. */
  maxTickS?: number;
  /** The length when the element does not know it (a live or unindexed stream). */
  durationS?: number;
  /** Keep the played segments in `localStorage` across visits. Default true. */
  persistSegments?: boolean;
}

export interface MediaSnapshot {
  /** Percent of the chapter played (the union), 0–100. */
  progress: number;
  positionS: number;
  /** Playing seconds recorded since `attach`, sent or not. */
  timeSpentS: number;
  segments: [number, number][];
  completed: boolean;
}

export interface MediaTracker {
  snapshot(): MediaSnapshot;
  /** Record the current state now (an event if anything changed). */
  emit(): void;
  /** Record the last tick and stop listening. */
  detach(): void;
}

const EVENTS = ["playing", "timeupdate", "pause", "seeking", "seeked", "waiting", "ended", "ratechange"] as const;

export function trackMedia(client: WaymarkClient, media: HTMLMediaElement, options: MediaOptions): MediaTracker {
  const { courseId, chapterId, completeAt = 90, intervalS = 10, maxTickS = 2, persistSegments = true } = options;
  const key = `waymark:segments:${client.userId}:${courseId}:${chapterId}`;
  const segments = new Segments(persistSegments ? loadSegments(key) : []);
  let running = false;
  let lastTime = media.currentTime;
  let lastWall = 0;
  let unsentMs = 0;
  let totalMs = 0;
  let lastEmitWall = performance.now();
  let sent = { progress: -1, position: -1 };
  let completed = false;

  const duration = (): number => (Number.isFinite(media.duration) && media.duration > 0 ? media.duration : options.durationS ?? 0);
  const progress = (): number => segments.percentOf(duration());

  // Credit playing up to media time `to`: the segment from the last observation, and the wall time.
  const account = (to: number): void => {
    if (!running) return;
    const now = performance.now();
    const wall = now - lastWall;
    // A media jump no playback can explain (a seek without events) is not a played segment.
    if (to >= lastTime && to - lastTime <= (wall / 1000) * Math.max(media.playbackRate, 1) * 1.5 + 0.5) {
      segments.add(lastTime, to);
    }
    const credit = Math.min(Math.max(wall, 0), maxTickS * 1000);
    unsentMs += credit;
    totalMs += credit;
    lastTime = to;
    lastWall = now;
  };

  let jumped = true; // a seek since the last observation: the next segment starts afresh
  const start = (): void => {
    running = !media.paused && !media.seeking;
    // Events arrive a moment late: on resuming after a pause or a stall, the media already
    // played from where it stopped, so the segment goes on from there.
    if (jumped || media.currentTime < lastTime) lastTime = media.currentTime;
    jumped = false;
    lastWall = performance.now();
  };

  const emit = (): void => {
    const p = progress();
    const position = Math.round(media.currentTime * 1000) / 1000;
    // Whole milliseconds are sent and the rest carried, so the sum stays exact.
    const ms = Math.floor(unsentMs);
    if (ms === 0 && p === sent.progress && position === sent.position) return;
    unsentMs -= ms;
    client.progress(courseId, chapterId, p, { position_s: position, time_spent_s: ms / 1000 });
    sent = { progress: p, position };
    lastEmitWall = performance.now();
    if (persistSegments) saveSegments(key, segments);
    if (!completed && completeAt !== null && p >= completeAt) {
      completed = true;
      client.complete(courseId, chapterId);
    }
  };

  const onEvent = (event: Event): void => {
    switch (event.type) {
      case "playing":
        start();
        break;
      case "timeupdate":
        if (running) account(media.currentTime);
        if (performance.now() - lastEmitWall >= intervalS * 1000) emit();
        break;
      case "seeking": // currentTime is already the target: the segment ended at the last tick
        account(lastTime);
        running = false;
        jumped = true;
        break;
      case "seeked":
        start();
        emit();
        break;
      case "ratechange":
        account(media.currentTime);
        break;
      default: // pause, waiting, ended
        account(event.type === "ended" ? duration() || media.currentTime : media.currentTime);
        running = false;
        if (event.type !== "waiting") emit();
    }
  };

  for (const type of EVENTS) media.addEventListener(type, onEvent);
  const stopHook = client.onBeforeSend(() => {
    account(media.currentTime);
    emit();
  });
  if (!media.paused) start();

  return {
    snapshot: () => ({
      progress: progress(),
      positionS: media.currentTime,
      timeSpentS: totalMs / 1000,
      segments: segments.toArray(),
      completed,
    }),
    emit: () => {
      account(media.currentTime);
      emit();
    },
    detach: () => {
      account(media.currentTime);
      emit();
      running = false;
      stopHook();
      for (const type of EVENTS) media.removeEventListener(type, onEvent);
    },
  };
}

function loadSegments(key: string): [number, number][] {
  try {
    const parts = JSON.parse(localStorage.getItem(key) ?? "[]") as unknown;
    return Array.isArray(parts) ? (parts as [number, number][]) : [];
  } catch {
    return [];
  }
}

function saveSegments(key: string, segments: Segments): void {
  try {
    localStorage.setItem(key, JSON.stringify(segments.toArray()));
  } catch {
    // storage full or disabled: the union lives as long as the page
  }
}
