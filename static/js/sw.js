// Muster's service worker: keeps the attendance sheets a signed-in user opened, with their files, so the
// sheet opens with no signal; sends queued marks (offline.js) on Background Sync and on page loads.
// Sign-in and sign-out drop every kept sheet, so the next user of the phone never sees one.
importScripts("/static/js/offline.js");

var SHEET = /^\/training-days\/\d+\/sheet$/;
var ASSETS = "muster-assets-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function sheetKey(url) {  // one copy per sheet and choice; one-off flags are not part of it
  var u = new URL(url);
  u.searchParams.delete("quick");
  u.searchParams.sort();
  u.hash = "";
  return u.href;
}

function keepSheet(url, response) {
  if (!response.ok || response.type !== "basic" || response.redirected) { return Promise.resolve(); }
  return caches.open(MusterOffline.SHEET_CACHE).then(function (cache) { return cache.put(sheetKey(url), response); });
}

function cachedSheet(url) {
  return caches.open(MusterOffline.SHEET_CACHE).then(function (cache) {
    return cache.match(sheetKey(url)).then(function (hit) {
      return hit || cache.match(url, { ignoreSearch: true });  // the day's sheet with another choice
    });
  }).then(function (hit) {
    return hit || new Response(
      "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>" +
      "<title>Offline · Muster</title><p>You are offline, and this sheet was not opened on this device " +
      "while you were signed in. Open it once with a connection to use it offline.</p>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  });
}

function fromNetworkKeeping(request) {
  return fetch(request).then(function (response) {
    if (response.ok && response.type === "basic") {
      var copy = response.clone();
      caches.open(ASSETS).then(function (cache) { return cache.put(request, copy); });
    }
    return response;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && (url.pathname === "/logout" || url.pathname === "/login")) {
    event.respondWith(MusterOffline.clearSheets().then(function () { return fetch(request); }));
    return;
  }
  if (request.method === "POST" && request.mode === "navigate" && SHEET.test(url.pathname)) {
    var sent = request.clone();
    event.respondWith(fetch(request).catch(function () { return queueFromForm(sent); }));
    return;
  }
  if (request.method !== "GET") { return; }
  if (request.mode === "navigate" && SHEET.test(url.pathname)) {
    event.respondWith(fetch(request).then(function (response) {
      event.waitUntil(keepSheet(request.url, response.clone()).then(MusterOffline.sync));
      return response;
    }, function () { return cachedSheet(request.url); }));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {
    // Fingerprinted (?v=<hash>) files never change under their URL: kept copy first. Others: network first.
    event.respondWith(url.searchParams.has("v")
      ? caches.match(request).then(function (hit) { return hit || fromNetworkKeeping(request); })
      : fromNetworkKeeping(request).catch(function () {
        return caches.match(request).then(function (hit) { return hit || Response.error(); });
      }));
    return;
  }
  if (request.mode === "navigate") {  // any other page loaded with a connection: send what is queued
    event.waitUntil(MusterOffline.sync().catch(function () { return null; }));
  }
});

// A sheet posted while the phone believed it had signal, and the post failed: queue the batch the page
// put in the form, then show the kept sheet, which lists it as waiting. Nothing is lost.
function queueFromForm(request) {
  return request.formData().then(function (form) {
    var batch = JSON.parse(form.get("offline_batch") || "null");
    if (!batch || !batch.marks || !batch.marks.length) { return Response.error(); }
    return MusterOffline.enqueue(batch.user, batch.day, batch.url, batch.marks).then(function () {
      return Response.redirect(request.url, 303);
    });
  });
}

self.addEventListener("message", function (event) {
  var message = event.data || {};
  if (message.type !== "keep") { return; }
  event.waitUntil(caches.open(ASSETS).then(function (cache) {
    return Promise.all((message.assets || []).map(function (asset) {
      return cache.match(asset).then(function (hit) { return hit || cache.add(asset); });
    }));
  }).then(function () {
    if (!message.page || !SHEET.test(new URL(message.page).pathname)) { return null; }
    return fetch(message.page, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
      return keepSheet(message.page, response);
    });
  }).catch(function () { return null; }));
});

self.addEventListener("sync", function (event) {
  if (event.tag !== MusterOffline.CHANNEL) { return; }
  // Rejecting asks the browser to try again later, while batches are still waiting.
  event.waitUntil(MusterOffline.sync().then(function (result) {
    if (result.unreachable) { throw new Error("marks still waiting"); }
  }));
});
