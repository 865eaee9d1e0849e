/* Service worker of the installable app (served at /sw.js, scope "/"; app/notifications/pwa.py).

   - Pages: network first. A same-origin GET page the server marks `X-Offline-Copy: 1` (a parent's
     child pages, threads, inbox) is kept; without network it is shown with a dated note, and any
     other page falls back to the offline page.
   - Privacy: a login or logout POST on this device empties the page cache (the logout answer also
     sends Clear-Site-Data: "cache", and the page posts {type: "clear"}), so one user never sees
     another's pages.
   - Web Push: shows the message (title naming the child) and opens its page on click. */
"use strict";

const PAGES = "pages-v1";
const SHELL = "shell-v1";
const OFFLINE_URL = "/offline";
// Public files only (the same for every user): the offline page and what any page loads.
const SHELL_URLS = [
  OFFLINE_URL,
  "/manifest.webmanifest",
  "/static/css/app.css",
  "/static/js/app.js",
  "/static/js/pwa.js",
  "/static/favicon.svg",
  "/static/icons/icon-192.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      // Without cookies: the offline page must not carry the name of whoever was logged in.
      .then((cache) => cache.addAll(SHELL_URLS.map((url) => new Request(url, { credentials: "omit" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== PAGES && k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function clearPages() {
  return caches.delete(PAGES);
}

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "clear") {
    event.waitUntil(clearPages());
  }
});

function sameOrigin(url) {
  return new URL(url).origin === self.location.origin;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function keep(request, response) {
  if (response.status !== 200 || response.headers.get("X-Offline-Copy") !== "1" || response.redirected) {
    return;
  }
  const headers = new Headers(response.headers);
  headers.set("X-Saved-At", new Date().toISOString());
  const body = await response.clone().arrayBuffer();
  const cache = await caches.open(PAGES);
  await cache.put(request.url, new Response(body, { status: 200, headers }));
}

async function offlineCopy(request) {
  const cache = await caches.open(PAGES);
  const cached = await cache.match(request.url);
  if (!cached) {
    return (await caches.match(OFFLINE_URL)) || new Response("Offline", { status: 503 });
  }
  let html = await cached.text();
  const lang = (html.match(/<html lang="([^"]+)"/) || [])[1] || "vi";
  const saved = new Date(cached.headers.get("X-Saved-At"));
  const when = saved.toLocaleString(lang === "vi" ? "vi-VN" : lang, { dateStyle: "short", timeStyle: "short" });
  const template = decodeURIComponent(cached.headers.get("X-Offline-Note") || "{time}");
  const note = '<p class="offline-note" role="status" data-offline-copy>' + escapeHtml(template.replace("{time}", when)) + "</p>";
  html = html.replace(/<main[^>]*>/, (m) => m + note);
  return new Response(html, { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (!sameOrigin(request.url)) {
    return;
  }
  const path = new URL(request.url).pathname;
  if (request.method === "POST" && (path === "/auth/logout" || path === "/auth/login")) {
    event.waitUntil(clearPages());
    return;
  }
  if (request.method !== "GET") {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request)
        .then((response) => {
          event.waitUntil(keep(request, response));
          return response;
        })
        .catch(() => offlineCopy(request))
    );
    return;
  }
  if (path.startsWith("/static/") || path === "/manifest.webmanifest") {
    event.respondWith(
      fetch(request).catch(() =>
        caches.match(request, { ignoreSearch: true }).then((r) => r || Response.error())
      )
    );
  }
});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { title: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Sổ liên lạc", {
      body: data.body || "",
      tag: data.tag,
      renotify: Boolean(data.urgent),
      requireInteraction: Boolean(data.urgent),
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/badge-96.png",
      data: { url: data.url || "/notifications/" },
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  let url = (event.notification.data && event.notification.data.url) || "/notifications/";
  if (!sameOrigin(new URL(url, self.location.origin).href)) {
    url = "/notifications/";
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if (new URL(w.url).pathname === new URL(url, self.location.origin).pathname && "focus" in w) {
          return w.focus();
        }
      }
      return self.clients.openWindow(url);
    })
  );
});
