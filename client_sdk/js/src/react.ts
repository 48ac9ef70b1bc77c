/**
 * React hooks (optional entry point `@waymark/browser/react`; React is a peer dependency).
 *
 * `<WaymarkProvider client={client}>` makes one client available below it; `useTrackProgress`
 * tracks a media element of a chapter while mounted; `useChapterProgress` reads the learner's
 * course progress through the read API with the client's user token, again after each
 * delivered batch (the server shows it within its merge window plus one flush).
 */

import {
  createContext, createElement, type ReactNode, type RefObject, useCallback, useContext, useEffect, useRef, useState,
} from "react";
import type { WaymarkClient } from "./client.js";
import { type MediaOptions, type MediaSnapshot, type MediaTracker, trackMedia } from "./media.js";
import { type ChapterView, type CourseProgressView, findChapter } from "./views.js";

const WaymarkContext = createContext<WaymarkClient | null>(null);

export function WaymarkProvider(props: { client: WaymarkClient; children?: ReactNode }): ReactNode {
  return createElement(WaymarkContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest `WaymarkProvider`. */
export function useWaymark(): WaymarkClient {
  const client = useContext(WaymarkContext);
  if (client === null) throw new Error("useWaymark: no <WaymarkProvider client={…}> above this component");
  return client;
}

/**
 * Track the media element in `ref` for one chapter while mounted (and while the chapter stays
 * the same); returns the tracker's state, refreshed every `refreshMs` (default 1000).
 */
export function useTrackProgress(
  ref: RefObject<HTMLMediaElement | null>,
  options: MediaOptions & { refreshMs?: number },
): MediaSnapshot | null {
  const client = useWaymark();
  const [snapshot, setSnapshot] = useState<MediaSnapshot | null>(null);
  const latest = useRef(options);
  latest.current = options;
  const { courseId, chapterId, refreshMs = 1000 } = options;
  useEffect(() => {
    const media = ref.current;
    if (media === null) return;
    const tracker: MediaTracker = trackMedia(client, media, latest.current);
    setSnapshot(tracker.snapshot());
    const timer = setInterval(() => setSnapshot(tracker.snapshot()), refreshMs);
    return () => {
      clearInterval(timer);
      tracker.detach();
    };
  }, [client, ref, courseId, chapterId, refreshMs]);
  return snapshot;
}

export interface ChapterProgressState {
  /** The whole course view; `null` before any progress (or before the first answer). */
  course: CourseProgressView | null;
  /** The chapter asked for, when one was. */
  chapter: ChapterView | null;
  loading: boolean;
  error: Error | null;
  refresh: () => void;
}

/** The learner's progress in a course (and one of its chapters), kept fresh as batches land. */
export function useChapterProgress(
  courseId: string,
  chapterId?: string,
  options: { refetchDelayMs?: number } = {},
): ChapterProgressState {
  const client = useWaymark();
  const { refetchDelayMs = 2500 } = options;
  const [state, setState] = useState<{ course: CourseProgressView | null; loading: boolean; error: Error | null }>({
    course: null, loading: true, error: null,
  });
  const [version, setVersion] = useState(0);
  const refresh = useCallback(() => setVersion((v) => v + 1), []);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    client.readCourse(courseId).then(
      (course) => live && setState({ course, loading: false, error: null }),
      (error: unknown) => live && setState((s) => ({ ...s, loading: false, error: error as Error })),
    );
    return () => {
      live = false;
    };
  }, [client, courseId, version]);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = client.onDelivered(() => {
      clearTimeout(timer);
      timer = setTimeout(refresh, refetchDelayMs);
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [client, refresh, refetchDelayMs]);
  return { ...state, chapter: chapterId === undefined ? null : findChapter(state.course, chapterId), refresh };
}
