// @vitest-environment jsdom
import { act, createElement, useRef } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WaymarkClient } from "../src/client.js";
import { useChapterProgress, useTrackProgress, WaymarkProvider } from "../src/react.js";
import { scriptedFetch, tokenFor } from "./fakes.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const COURSE = {
  user_id: "u-1", course_id: "py-101", percent_complete: 50, status: "in_progress",
  modules: [{ module_id: "m1", chapters: [{ chapter_id: "ch-1", progress: 40, completed: false, position_s: 12 }] }],
  other_chapters: [],
};

let root: Root;
let host: HTMLElement;
beforeEach(() => {
  host = document.createElement("div");
  document.body.append(host);
  root = createRoot(host);
});
afterEach(() => {
  act(() => root.unmount());
  host.remove();
});

async function settle(): Promise<void> {
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
}

describe("React hooks", () => {
  it("useChapterProgress reads the course with the user token and picks the chapter", async () => {
    const { fetch, sent } = scriptedFetch([{ status: 200, body: COURSE }]);
    const client = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u-1"), fetch, storage: null });
    function Chapter() {
      const { chapter, course, loading } = useChapterProgress("py-101", "ch-1");
      return createElement("p", null, loading ? "loading" : `${course?.percent_complete} ${chapter?.progress} ${chapter?.position_s}`);
    }
    act(() => root.render(createElement(WaymarkProvider, { client }, createElement(Chapter))));
    expect(host.textContent).toBe("loading");
    await settle();
    expect(host.textContent).toBe("50 40 12");
    expect(sent[0]!.url).toBe("http://api.test/v1/users/u-1/courses/py-101");
    expect(sent[0]!.headers.Authorization).toMatch(/^Bearer /);
  });

  it("useChapterProgress gives null before any progress", async () => {
    const { fetch } = scriptedFetch([{ status: 404 }]);
    const client = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u-1"), fetch, storage: null });
    function Chapter() {
      const { chapter, loading, error } = useChapterProgress("py-101", "ch-1");
      return createElement("p", null, `${loading} ${chapter} ${error}`);
    }
    act(() => root.render(createElement(WaymarkProvider, { client }, createElement(Chapter))));
    await settle();
    expect(host.textContent).toBe("false null null");
  });

  it("useTrackProgress tracks the element while mounted and records the last tick on unmount", async () => {
    const { fetch, sent } = scriptedFetch();
    const client = new WaymarkClient({ endpoint: "http://api.test", token: tokenFor("u-1"), fetch, storage: null });
    let media: HTMLVideoElement | null = null;
    function Player() {
      const ref = useRef<HTMLVideoElement>(null);
      const snap = useTrackProgress(ref, { courseId: "py-101", chapterId: "ch-1", persistSegments: false });
      return createElement("div", null, createElement("video", { ref }), createElement("span", null, String(snap?.progress)));
    }
    act(() => root.render(createElement(WaymarkProvider, { client }, createElement(Player))));
    media = host.querySelector("video")!;
    expect(host.querySelector("span")!.textContent).toBe("0");
    Object.defineProperty(media, "currentTime", { value: 42, configurable: true });
    act(() => root.render(createElement(WaymarkProvider, { client }, createElement("p"))));
    await client.flush();
    expect(sent.flatMap((s) => s.body.events)).toMatchObject([{ type: "chapter_progress", chapter_id: "ch-1", position_s: 42 }]);
  });

  it("useWaymark without a provider says what is missing", () => {
    function Orphan() {
      useChapterProgress("py-101");
      return null;
    }
    expect(() => act(() => root.render(createElement(Orphan)))).toThrow(/WaymarkProvider/);
  });
});
