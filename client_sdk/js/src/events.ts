/**
 * The wire events of `POST /v1/events` and builders that fill in the common fields.
 *
 * Timestamps are integer epoch milliseconds, which the server accepts as well as RFC 3339.
 * `source_id` and `seq` are stamped by the client's queue, never by the caller.
 */

interface Common {
  id: string;
  user_id: string;
  course_id: string;
  ts: number | string;
  source_id?: string;
  seq?: number;
}

export interface ChapterProgress extends Common {
  type: "chapter_progress";
  chapter_id: string;
  /** Percent of the chapter, 0–100. */
  progress: number;
  /** Resume point, e.g. video seconds. */
  position_s?: number;
  /** Seconds since this client's previous event for the chapter, 0–3600. */
  time_spent_s?: number;
}

export interface ChapterCompleted extends Common {
  type: "chapter_completed";
  chapter_id: string;
  time_spent_s?: number;
}

export interface ChapterUncompleted extends Common {
  type: "chapter_uncompleted";
  chapter_id: string;
}

export interface CourseViewed extends Common {
  type: "course_viewed";
  chapter_id?: string;
}

export interface Enrollment extends Common {
  type: "enrollment";
  status: "enrolled" | "paused" | "dropped";
  /** The learning path enrolled through; the course must be one of its courses. */
  path_id?: string;
}

export interface CourseReset extends Common {
  type: "course_reset";
}

export interface QuizResponse {
  question_id: string;
  answer_ids?: string[];
  text?: string;
  correct?: boolean;
  time_s?: number;
}

export interface QuizAttempt extends Common {
  type: "quiz_attempt";
  quiz_id: string;
  attempt_id: string;
  score: number;
  max_score: number;
  passed?: boolean;
  duration_s?: number;
  chapter_id?: string;
  responses?: QuizResponse[];
}

export type WaymarkEvent =
  | ChapterProgress
  | ChapterCompleted
  | ChapterUncompleted
  | CourseViewed
  | Enrollment
  | CourseReset
  | QuizAttempt;

type Loose<E> = E extends Common
  ? Omit<E, "id" | "user_id" | "ts" | "source_id" | "seq"> & Partial<Pick<E, "id" | "user_id" | "ts">>
  : never;

/** An event as callers pass it: `id`, `user_id` and `ts` may be left to the client. */
export type EventInput = Loose<WaymarkEvent>;

/** The chapter an event is about, if it names one. */
export function chapterOf(event: WaymarkEvent): string | undefined {
  return "chapter_id" in event ? event.chapter_id : undefined;
}

/** Epoch milliseconds of a wire timestamp. */
export function toMs(ts: number | string): number {
  return typeof ts === "number" ? ts : Date.parse(ts);
}
