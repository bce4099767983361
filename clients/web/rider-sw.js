// The rider page's service worker: keeps the page's shell so /rider opens with no signal.
//
// Network first (a page or script changed on the hub is used as soon as there is signal), the
// cache when the network fails. Only the shell is cached; the hub's data comes over the
// WebSocket, and the page keeps its last snapshot and its outbox in IndexedDB.

const CACHE = "fireflow-rider-v3";
const PAGE = "/rider";
const SHELL = [
  PAGE,
  "/rider.webmanifest",
  "/static/rider.js",
  "/static/rider_position.js",
  "/static/rider.css",
  "/static/rider-icon.svg",
  "/static/rider-icon-192.png",
  "/static/fireflow.js",
  "/static/fireflow.css",
  "/static/ui.js",
  "/static/money.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("fireflow-rider-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function shellKey(url) {
  if (url.origin !== self.location.origin) return null;
  if (url.pathname === PAGE) return PAGE; // with any ?device= or ?token=: one page
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const key = shellKey(new URL(request.url));
  if (!key) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(key, response.clone());
        return response;
      } catch (err) {
        const kept = await cache.match(key);
        if (!kept) throw err;
        const headers = new Headers(kept.headers);
        headers.set("X-Fireflow-From", "rider-sw-cache"); // so a test (or a curious rider) can tell
        return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers });
      }
    })(),
  );
});
