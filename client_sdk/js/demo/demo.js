// The demo page (also the end-to-end test page). Configuration from the query string:
// ?api=http://127.0.0.1:8080&token=<user token>&course=py-101&chapter=ch-1
import { findChapter, trackMedia, WaymarkClient } from "./waymark.js";

export const CHAPTERS = [
  { id: "ch-1", title: "Welcome", seconds: 60 },
  { id: "ch-2", title: "Variables", seconds: 45 },
  { id: "ch-3", title: "Loops", seconds: 30 },
];

const params = new URLSearchParams(location.search);
const course = params.get("course") ?? "py-101";
const player = document.getElementById("player");

/** A silent WAV of `seconds` (8 kHz, 8-bit mono): a real media file made in the page, no download. */
function silence(seconds) {
  const rate = 8000, n = seconds * rate, head = new DataView(new ArrayBuffer(44));
  const ascii = (at, s) => [...s].forEach((c, i) => head.setUint8(at + i, c.charCodeAt(0)));
  ascii(0, "RIFF"); head.setUint32(4, 36 + n, true); ascii(8, "WAVEfmt ");
  head.setUint32(16, 16, true); head.setUint16(20, 1, true); head.setUint16(22, 1, true);
  head.setUint32(24, rate, true); head.setUint32(28, rate, true); head.setUint16(32, 1, true);
  head.setUint16(34, 8, true); ascii(36, "data"); head.setUint32(40, n, true);
  return URL.createObjectURL(new Blob([head.buffer, new Uint8Array(n).fill(128)], { type: "audio/wav" }));
}

const client = new WaymarkClient({
  endpoint: params.get("api") ?? "http://127.0.0.1:8080",
  token: params.get("token") ?? "",
  // A real platform asks its backend; the test page is handed a function by the test driver.
  refreshToken: async () => (window.waymarkRefreshToken ? window.waymarkRefreshToken() : null),
  onError: (error, events) => console.warn("waymark:", error.code, error.message, events.length),
});

let tracker = null;
let current = null;

async function select(chapterId) {
  tracker?.detach();
  current = CHAPTERS.find((c) => c.id === chapterId) ?? CHAPTERS[0];
  const loaded = new Promise((resolve) => player.addEventListener("loadedmetadata", resolve, { once: true }));
  player.src = silence(current.seconds);
  await loaded;
  const resume = findChapter(await client.readCourse(course).catch(() => null), current.id)?.position_s;
  if (resume && resume < current.seconds - 1) player.currentTime = resume;
  tracker = trackMedia(client, player, { courseId: course, chapterId: current.id });
  client.viewed(course, current.id);
  render();
}

async function render() {
  const view = await client.readCourse(course).catch(() => null);
  const list = document.getElementById("chapters");
  list.replaceChildren(...CHAPTERS.map((c) => {
    const li = document.createElement("li");
    const chapter = findChapter(view, c.id);
    li.className = c.id === current?.id ? "current" : "";
    li.innerHTML = `<button></button> <meter max="100"></meter> <span></span>`;
    li.querySelector("button").textContent = `${c.title} (${c.seconds} s)`;
    li.querySelector("button").onclick = () => select(c.id);
    li.querySelector("meter").value = chapter?.progress ?? 0;
    li.querySelector("span").textContent = chapter ? `${chapter.progress}%${chapter.completed ? " ✓" : ""}` : "";
    return li;
  }));
}

setInterval(() => {
  const snap = tracker?.snapshot();
  document.getElementById("status").textContent = JSON.stringify({ chapter: current?.id, ...snap, stats: client.stats() }, null, 1);
}, 500);
client.onDelivered(() => setTimeout(render, 2500));

// Offline reloads: the page comes from the service worker's copy.
const offlineReady = navigator.serviceWorker?.register("./sw.js").then(() => navigator.serviceWorker.ready);

window.demo = { client, select, snapshot: () => tracker?.snapshot(), player, offlineReady, ready: null };
window.demo.ready = client.ready.then(() => select(params.get("chapter") ?? "ch-1"));
