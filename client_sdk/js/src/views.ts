/** The read API's course progress (`GET /v1/users/{user_id}/courses/{course_id}`), as sent. */

export interface ChapterView {
  chapter_id: string;
  progress: number;
  completed: boolean;
  completed_at: string | null;
  position_s: number | null;
  time_spent_s: number;
  first_activity_at: string | null;
  last_activity_at: string | null;
}

export interface ModuleView {
  module_id: string;
  percent_complete: number;
  completed_chapters: number;
  total_chapters: number;
  avg_progress: number;
  time_spent_s: number;
  chapters: ChapterView[];
}

export interface CourseProgressView {
  user_id: string;
  course_id: string;
  percent_complete: number | null;
  status: "completed" | "in_progress" | "not_started";
  completed_chapters: number;
  total_chapters: number;
  avg_progress: number;
  time_spent_s: number;
  started_at: string | null;
  last_activity_at: string | null;
  last_accessed_at: string | null;
  completed_at: string | null;
  enrollment_status: "enrolled" | "paused" | "dropped" | null;
  modules: ModuleView[];
  other_chapters: ChapterView[];
}

/** One chapter of a course view, wherever the catalog puts it. */
export function findChapter(view: CourseProgressView | null, chapterId: string): ChapterView | null {
  if (view === null) return null;
  for (const chapter of [...view.modules.flatMap((m) => m.chapters), ...view.other_chapters]) {
    if (chapter.chapter_id === chapterId) return chapter;
  }
  return null;
}
