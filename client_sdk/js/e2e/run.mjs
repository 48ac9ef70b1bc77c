// End to end in a real headless Chromium (the Debian package, driven by playwright-core)
// against a running Waymark stack. Run by tests/browser/test_browser_sdk.py, which starts the
// stack, then checks what the server holds against what this script prints (one JSON line).
//
// Environment: WAYMARK_API (base URL), WAYMARK_USER_TOKEN_SECRET, WAYMARK_USER, WAYMARK_COURSE,
// DEMO_PORT (an origin the server allows in WAYMARK_CORS_ORIGINS), CHROMIUM (default
// /usr/bin/chromium), E2E_DEBUG=1 to log every API request on stderr.
import { chromium } from "playwright-core";
import { serveDemo } from "../scripts/serve-demo.mjs";
import { mintToken } from "../scripts/mint-token.mjs";

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is required`);
  return process.env[name];
};
const api = env("WAYMARK_API");
const secret = env("WAYMARK_USER_TOKEN_SECRET");
const user = env("WAYMARK_USER");
const course = env("WAYMARK_COURSE");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const demo = await serveDemo(Number(env("DEMO_PORT")));
// playwright-core gives every launch a fresh temporary profile (its own --user-data-dir).
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const results = {};

/** A fresh browser profile (its own localStorage), recording every POST /v1/events. */
async function newContext(learner = user) {
  const context = await browser.newContext();
  const posts = [];
  context.on("requestfinished", async (request) => {
    if (request.method() !== "POST" || !request.url().endsWith("/v1/events")) return;
    const response = await request.response();
    const record = {
      startedAt: request.timing().startTime, at: Date.now(), status: response?.status(),
      retryAfter: response?.headers()["retry-after"] ?? null, ids: request.postDataJSON().events.map((e) => e.id),
    };
    try {
      record.answer = await response.json();
    } catch {
      record.answer = null; // a keepalive request whose page is gone
    }
    posts.push(record);
  });
  if (process.env.E2E_DEBUG) context.on("requestfinished", async (r) => r.url().includes("/v1/") && console.error(`[done] ${r.method()} ${r.url()} ${(await r.response())?.status()}`));
  if (process.env.E2E_DEBUG) context.on("requestfailed", (r) => console.error(`[failed] ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  context.on("console", (m) => m.type() === "warning" && console.error(`[page] ${m.text()}`));
  let refreshes = 0;
  await context.exposeFunction("waymarkRefreshToken", () => {
    refreshes += 1;
    return mintToken(secret, learner);
  });
  return { context, posts, refreshes: () => refreshes };
}

async function open(context, chapter, token = mintToken(secret, user)) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  const query = new URLSearchParams({ api, token, course, chapter });
  await page.goto(`${demo.origin}/?${query}`);
  await page.evaluate(() => window.demo.ready);
  return page;
}

/** Play at `rate`× for `ms` of wall time from `from` seconds, then pause. */
function play(page, from, ms, rate = 4) {
  return page.evaluate(async ([from, ms, rate]) => {
    const v = window.demo.player;
    if (Math.abs(v.currentTime - from) > 0.01) {
      const seeked = new Promise((r) => v.addEventListener("seeked", r, { once: true }));
      v.currentTime = from;
      await seeked;
    }
    v.playbackRate = rate;
    await v.play();
    await new Promise((r) => setTimeout(r, ms));
    if (!v.paused) {
      const paused = new Promise((r) => v.addEventListener("pause", r, { once: true }));
      v.pause();
      await paused; // the tracker credits the last moments of playing on this event
    }
    return window.demo.snapshot();
  }, [from, ms, rate]);
}

async function waitQueued(page, n, timeoutMs) {
  try {
    await page.waitForFunction((n) => window.demo.client.stats().queued === n, n, { timeout: timeoutMs, polling: 100 });
  } catch (error) {
    const state = await page.evaluate(() => ({ onLine: navigator.onLine, stats: window.demo.client.stats() }));
    throw new Error(`${error.message}; page state ${JSON.stringify(state)}`);
  }
}

async function closeMidLesson() {
  // Starts with an expired token: the first send gets a 401, refreshes once, and retries.
  const { context, posts, refreshes } = await newContext();
  const page = await open(context, "ch-1", mintToken(secret, user, -120));
  await play(page, 0, 2500); // about 0 → 10 s
  await play(page, 40, 1500); // about 40 → 46 s
  const snapshot = await play(page, 59, 1000); // seek to the end and play it out: no completion
  const ended = await page.evaluate(() => window.demo.player.ended);
  const closed = new Promise((r) => page.once("close", r));
  await page.close({ runBeforeUnload: true });
  await closed;
  await sleep(1500); // let the keepalive request land
  await context.close();
  return { snapshot, ended, refreshes: refreshes(), posts };
}

async function offlineThenReload() {
  const { context, posts } = await newContext();
  const page = await open(context, "ch-2");
  await page.evaluate(() => window.demo.offlineReady); // the page can be reloaded offline
  const online = await play(page, 0, 2000); // about 0 → 8 s
  await page.evaluate(() => window.demo.client.flush());
  await context.setOffline(true);
  const first = await play(page, online.positionS, 2000); // about 8 → 16 s, offline
  await page.evaluate(() => window.demo.client.flush()); // fails: kept in storage
  const queuedBeforeReload = await page.evaluate(() => window.demo.client.stats().queued);
  await page.reload();
  await page.evaluate(() => window.demo.ready);
  const restored = await page.evaluate(() => window.demo.client.stats().queued);
  const second = await play(page, 30, 1500); // about 30 → 36 s, still offline
  await context.setOffline(false);
  await waitQueued(page, 0, 20_000);
  const stats = await page.evaluate(() => window.demo.client.stats());
  await page.close();
  await context.close();
  return { first, second, queuedBeforeReload, restored, stats, posts };
}

async function rateLimited() {
  // Another learner, whose requests the server limits (WAYMARK_RATE_LIMIT_USER_*): reads use
  // up the bucket, so the next batch is answered 429 with Retry-After.
  const learner = `${user}-limited`;
  const { context, posts } = await newContext(learner);
  const page = await open(context, "ch-3", mintToken(secret, learner));
  await page.evaluate(() => window.demo.client.flush());
  const snapshot = await play(page, 0, 1000);
  await page.evaluate(async (course) => {
    const read = () => window.demo.client.readCourse(course).catch(() => null);
    await Promise.all(Array.from({ length: 40 }, read));
  }, course);
  await page.evaluate(() => window.demo.client.flush());
  await waitQueued(page, 0, 15_000);
  const stats = await page.evaluate(() => window.demo.client.stats());
  await context.close();
  return { learner, snapshot, stats, posts };
}

const started = Date.now();
try {
  results.close = await closeMidLesson();
  results.offline = await offlineThenReload();
  results.limited = await rateLimited();
} finally {
  await browser.close();
  demo.close();
}
results.seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify(results));
