export { type BatchResult, type ClientOptions, WaymarkClient, WaymarkError } from "./client.js";
export type * from "./events.js";
export { newEventId } from "./ids.js";
export { type MediaOptions, type MediaSnapshot, type MediaTracker, trackMedia } from "./media.js";
export type { Stats } from "./queue.js";
export { Segments } from "./segments.js";
export { type ChapterView, type CourseProgressView, findChapter, type ModuleView } from "./views.js";
