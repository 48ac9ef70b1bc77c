// The demo page's service worker: the page loads offline too (network first, then the copy
// kept at the last load), as a platform's offline-capable app would. Calls to the Waymark API
// are never touched: the SDK's own queue deals with the network being gone.
const CACHE = "waymark-demo";
const PAGE = ["./", "./demo.js", "./waymark.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PAGE)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        void caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        return response;
      })
      .catch(() => caches.match(url.pathname)),
  );
});
