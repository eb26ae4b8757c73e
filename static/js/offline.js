// The attendance sheet with no signal: marks saved offline wait in IndexedDB, one batch per save, each
// with its own Idempotency-Key, and are sent when the connection returns. Shared by the sheet page and
// the service worker (sw.js imports this file), so both send the one queue the same way.
(function (scope) {
  "use strict";

  var DB_NAME = "muster-offline", LOCK = "muster-marks-sync", CHANNEL = "muster-marks", TIMEOUT_MS = 15000;
  var SHEET_CACHE = "muster-sheets";

  // --- IndexedDB: batches (queued saves), conflicts (marks the server kept for the user to choose), meta.
  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        var db = request.result;
        db.createObjectStore("batches", { keyPath: "key" });
        db.createObjectStore("conflicts", { keyPath: "id" });
        db.createObjectStore("meta", { keyPath: "id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  // Run work(stores) in one transaction; resolves with work's result once the transaction committed.
  function inTx(names, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(names, mode), result;
        var stores = {};
        names.forEach(function (name) { stores[name] = tx.objectStore(name); });
        Promise.resolve(work(stores, tx)).then(function (value) { result = value; }, reject);
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function getAll(store) {
    return new Promise(function (resolve, reject) {
      var request = store.getAll();
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function readAll(name) {
    return inTx([name], "readonly", function (s) { return getAll(s[name]); });
  }

  function newKey() {
    if (scope.crypto && crypto.randomUUID) { return "sheet-" + crypto.randomUUID(); }
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return "sheet-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function enqueue(user, day, url, marks) {
    var batch = { key: newKey(), user: user, day: day, url: url, marks: marks, created: Date.now(), failed: null };
    return inTx(["batches"], "readwrite", function (s) { s.batches.put(batch); }).then(function () {
      announce({ type: "queued" });
      return batch;
    });
  }

  function announce(message) {
    if (scope.BroadcastChannel) {
      var channel = new BroadcastChannel(CHANNEL);
      channel.postMessage(message);
      channel.close();
    }
  }

  // --- One sender at a time across every tab and the worker: a Web Lock, else a 30-second lease in IndexedDB.
  function exclusively(work) {
    if (scope.navigator && navigator.locks) {
      return navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
        return lock ? work() : { busy: true };
      });
    }
    var me = newKey(), now = Date.now();
    return inTx(["meta"], "readwrite", function (s) {
      return new Promise(function (resolve) {
        var request = s.meta.get("lease");
        request.onsuccess = function () {
          var lease = request.result;
          if (lease && lease.until > now && lease.owner !== me) { resolve(false); return; }
          s.meta.put({ id: "lease", owner: me, until: now + 30000 });
          resolve(true);
        };
      });
    }).then(function (claimed) {
      if (!claimed) { return { busy: true }; }
      var release = function () { return inTx(["meta"], "readwrite", function (s) { s.meta.delete("lease"); }); };
      return work().then(function (r) { return release().then(function () { return r; }); },
                         function (e) { return release().then(function () { throw e; }); });
    });
  }

  function call(url, options) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    options.signal = controller.signal;
    options.credentials = "same-origin";
    options.headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      clearTimeout(timer);
      return response.json().then(function (body) { return { status: response.status, body: body }; },
                                  function () { return { status: response.status, body: null }; });
    }, function () { clearTimeout(timer); return { status: 0, body: null }; });  // offline, refused, timed out
  }

  // Send every batch of the signed-in user, oldest first. A batch leaves the queue only when the server
  // answered 200 with its result (a replayed answer included); 5xx, timeouts and unclear answers keep it.
  function sync() {
    return exclusively(function () {
      return readAll("batches").then(function (batches) {
        if (!batches.length) { return { waiting: 0 }; }
        batches.sort(function (a, b) { return a.created - b.created; });
        return call(batches[0].url, { method: "GET" }).then(function (state) {
          if (state.status === 401 || state.status === 403) { return { signin: true }; }
          if (state.status !== 200 || !state.body || !state.body.data) { return { unreachable: true }; }
          var mine = batches.filter(function (b) { return b.user === state.body.data.user_id && !b.failed; });
          return sendEach(mine, state.body.data.csrf_token, { sent: 0 });
        });
      });
    }).then(function (result) {
      if (!result.busy) { announce({ type: "synced", result: result }); }
      return result;
    });
  }

  function sendEach(batches, csrf, result) {
    if (!batches.length) { return Promise.resolve(result); }
    var batch = batches[0];
    return call(batch.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": batch.key, "X-CSRFToken": csrf },
      body: JSON.stringify({ user_id: batch.user, marks: batch.marks })
    }).then(function (answer) {
      if (answer.status === 200 && answer.body && answer.body.data) {
        return acknowledge(batch, answer.body.data).then(function () {
          result.sent += batch.marks.length;
          return sendEach(batches.slice(1), csrf, result);
        });
      }
      if (answer.status === 401) { result.signin = true; return result; }
      var code = answer.body && answer.body.code;
      if (code === "VALIDATION_ERROR" || code === "NOT_FOUND") {  // resending would not help: shown, kept
        return markFailed(batch, answer.body.message).then(function () {
          return sendEach(batches.slice(1), csrf, result);
        });
      }
      result.unreachable = true;  // 5xx, timeout, connection dropped: try again later
      return result;
    });
  }

  // In one transaction: drop the batch, keep its conflicts, and move later batches' base versions of the
  // same cadets on to the versions this one wrote (so the user's own earlier mark is not a conflict).
  function acknowledge(batch, data) {
    var versions = data.versions || {};
    return inTx(["batches", "conflicts"], "readwrite", function (s) {
      s.batches.delete(batch.key);
      (data.conflicts || []).forEach(function (c) {
        s.conflicts.put(Object.assign({ id: batch.user + ":" + batch.day + ":" + c.cadet_id, user: batch.user,
                                        day: batch.day, url: batch.url }, c));
      });
      var bases = {};
      batch.marks.forEach(function (m) { bases[m.cadet_id] = m.base_version; });
      return getAll(s.batches).then(function (rest) {
        rest.forEach(function (other) {
          if (other.user !== batch.user || other.day !== batch.day) { return; }
          var moved = false;
          other.marks.forEach(function (m) {
            if (versions[m.cadet_id] !== undefined && bases[m.cadet_id] === m.base_version) {
              m.base_version = versions[m.cadet_id];
              moved = true;
            }
          });
          if (moved) { s.batches.put(other); }
        });
      });
    }).then(function () {
      announce({ type: "acked", day: batch.day, versions: versions, conflicts: data.conflicts || [] });
      return refreshSheets(batch.day);
    });
  }

  function markFailed(batch, message) {
    batch.failed = message || "The server refused these marks.";
    return inTx(["batches"], "readwrite", function (s) { s.batches.put(batch); });
  }

  // The cached copies of a day's sheet are out of date once marks were sent: fetch them again.
  function refreshSheets(day) {
    if (!scope.caches) { return Promise.resolve(); }
    var path = new RegExp("^/training-days/" + day + "/sheet$");
    return caches.open(SHEET_CACHE).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.filter(function (r) { return path.test(new URL(r.url).pathname); })
          .map(function (r) {
            return fetch(r.url, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
              if (response.ok && response.type === "basic") { return cache.put(r.url, response); }
              return cache.delete(r.url);  // signed out meanwhile: never keep a sheet another user may see
            }, function () { return null; });
          }));
      });
    });
  }

  function clearSheets() {
    return scope.caches ? caches.delete(SHEET_CACHE) : Promise.resolve(false);
  }

  scope.MusterOffline = {
    SHEET_CACHE: SHEET_CACHE, CHANNEL: CHANNEL, enqueue: enqueue, sync: sync, readAll: readAll, inTx: inTx,
    clearSheets: clearSheets
  };

  if (typeof document === "undefined") { return; }  // in the service worker: the page part is not needed

  // --- The sheet page.
  function plural(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }

  function sheetPage(form) {
    var user = Number(form.dataset.user), day = Number(form.dataset.day), url = form.dataset.sync;
    var status = document.createElement("p");
    status.className = "offline-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.hidden = true;
    form.parentNode.insertBefore(status, form);
    var panel = document.createElement("section");
    panel.className = "card offline-conflicts";
    panel.hidden = true;
    form.parentNode.insertBefore(panel, form);
    var signin = false;

    function rows() { return form.querySelectorAll("tr[data-cadet-id]"); }
    function rowOf(cadetId) { return form.querySelector("tr[data-cadet-id=\"" + cadetId + "\"]"); }
    function saved(select) {  // the status the page was drawn with, or the one queued since
      var row = select.closest("tr");
      if (row.dataset.queued) { return row.dataset.queued; }
      var chosen = Array.prototype.find.call(select.options, function (o) { return o.defaultSelected; });
      return chosen ? chosen.value : "";
    }

    function show() {
      return Promise.all([readAll("batches"), readAll("conflicts")]).then(function (found) {
        var batches = found[0].filter(function (b) { return b.user === user; });
        var waiting = 0, failed = [];
        rows().forEach(function (row) { delete row.dataset.queued; row.classList.remove("queued"); });
        batches.sort(function (a, b) { return a.created - b.created; }).forEach(function (b) {
          waiting += b.marks.length;
          if (b.failed) { failed.push(b.failed); }
          if (b.day !== day) { return; }
          b.marks.forEach(function (m) {
            var row = rowOf(m.cadet_id);
            if (!row) { return; }
            row.dataset.queued = m.status;
            row.classList.add("queued");
            row.querySelector("select.status-select").value = m.status;
          });
        });
        var text = waiting ? plural(waiting, "mark") + " waiting to send" : "";
        if (waiting && signin) { text += ". Your session has ended: sign in again to send them."; }
        else if (waiting && !navigator.onLine) { text += "; they are sent when the connection returns."; }
        if (failed.length) { text += " Refused by the server: " + failed.join("; "); }
        status.textContent = text;
        if (waiting && signin) {
          var link = document.createElement("a");
          link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
          link.textContent = "Sign in";
          status.appendChild(document.createTextNode(" "));
          status.appendChild(link);
        }
        status.hidden = !text;
        showConflicts(found[1].filter(function (c) { return c.user === user && c.day === day; }));
      });
    }

    function nameOf(cadetId) {
      var row = rowOf(cadetId);
      return row ? row.querySelector("td").firstChild.textContent.trim() : "Cadet " + cadetId;
    }

    function showConflicts(conflicts) {
      panel.textContent = "";
      panel.hidden = !conflicts.length;
      rows().forEach(function (row) { row.classList.remove("conflict"); });
      if (!conflicts.length) { return; }
      var heading = document.createElement("h2");
      heading.textContent = "Changed by someone else while you were offline: choose which mark to keep";
      panel.appendChild(heading);
      var list = document.createElement("ul");
      conflicts.forEach(function (c) {
        var row = rowOf(c.cadet_id);
        if (row) { row.classList.add("conflict"); }
        var item = document.createElement("li");
        item.dataset.cadetId = c.cadet_id;
        item.appendChild(document.createTextNode(nameOf(c.cadet_id) + ": saved as " + c.server_status +
                                                 "; you marked " + c.status + ". "));
        item.appendChild(button("Keep " + c.server_status, function () { keepTheirs(c); }));
        item.appendChild(button("Use " + c.status, function () { useMine(c); }));
        list.appendChild(item);
      });
      panel.appendChild(list);
    }

    function button(text, onClick) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = text;
      b.addEventListener("click", onClick);
      return b;
    }

    function dropConflict(c) {
      return inTx(["conflicts"], "readwrite", function (s) { s.conflicts.delete(c.id); });
    }

    function keepTheirs(c) {
      var row = rowOf(c.cadet_id);
      if (row) { setDrawn(row, c.server_status, c.server_version); }
      dropConflict(c).then(show);
    }

    function useMine(c) {
      dropConflict(c).then(function () {
        return enqueue(user, day, url, [{ cadet_id: c.cadet_id, status: c.status, base_version: c.server_version }]);
      }).then(send);
    }

    // The row now stands for the server's record: this status at this version.
    function setDrawn(row, value, version) {
      var select = row.querySelector("select.status-select");
      Array.prototype.forEach.call(select.options, function (o) { o.defaultSelected = o.value === value; });
      select.value = value;
      row.dataset.version = version;
    }

    // The marks that differ from what the page was drawn with (or queued since), with the version each row had.
    function changedMarks(fillBlanks, only) {
      var marks = [];
      (only ? [only] : rows()).forEach(function (row) {
        var select = row.querySelector("select.status-select");
        var value = select.value || (fillBlanks ? "present" : "");
        if (value && value !== saved(select)) {
          marks.push({ cadet_id: Number(row.dataset.cadetId), status: value, base_version: Number(row.dataset.version) });
        }
      });
      return marks;
    }

    function queueChanges(fillBlanks, only) {
      var marks = changedMarks(fillBlanks, only);
      if (fillBlanks) {
        rows().forEach(function (row) {
          var select = row.querySelector("select.status-select");
          if (!select.value) { select.value = "present"; }
        });
      }
      if (!marks.length) { status.hidden = false; status.textContent = "No changed marks to save."; return; }
      enqueue(user, day, url, marks).then(function () {
        if (navigator.serviceWorker && navigator.serviceWorker.ready) {
          navigator.serviceWorker.ready.then(function (reg) {
            if (reg.sync) { return reg.sync.register(CHANNEL); }  // Background Sync, where the browser has it
          }).catch(function () { return null; });
        }
        return show();
      }).then(send);
    }

    function send() {
      if (!navigator.onLine) { return show(); }
      return sync().then(function (result) {
        if (!result.busy) { signin = !!result.signin; }
        return show();
      }, show);
    }

    form.addEventListener("submit", function (event) {
      // Online with nothing queued, the form posts as it always did; otherwise the save joins the queue,
      // so marks are never lost to a dropped connection and never overtake older queued ones.
      var fill = event.submitter && event.submitter.name === "mark_all";
      var queued = form.querySelector("tr.queued");
      if (navigator.onLine && !queued) {
        // Posted as always; should the post fail (a phone that thinks it has signal), the service worker
        // queues this batch from the form instead of losing it (sw.js). The server ignores the field.
        var field = form.querySelector("input[name=offline_batch]") || document.createElement("input");
        field.type = "hidden";
        field.name = "offline_batch";
        field.value = JSON.stringify({ user: user, day: day, url: url, marks: changedMarks(fill) });
        form.appendChild(field);
        return;
      }
      event.preventDefault();
      queueChanges(fill);
    });

    quickEntryOffline(function (row) {
      var select = row.querySelector("select.status-select");
      if (select.value && saved(select)) { return "was already marked " + select.value + "; nothing changed."; }
      select.value = "present";
      queueChanges(false, row);
      return "marked present; waiting to send.";
    });

    if (scope.BroadcastChannel) {
      new BroadcastChannel(CHANNEL).addEventListener("message", function (event) {
        var message = event.data || {};
        if (message.type === "acked" && message.day === day) {
          Object.keys(message.versions).forEach(function (cadetId) {
            var row = rowOf(cadetId);
            if (row && !message.conflicts.some(function (c) { return String(c.cadet_id) === cadetId; })) {
              setDrawn(row, row.dataset.queued || row.querySelector("select.status-select").value,
                       message.versions[cadetId]);
            }
          });
        }
        if (message.type === "synced" && message.result) { signin = !!message.result.signin; }
        show();
      });
    }
    window.addEventListener("online", send);
    window.addEventListener("offline", show);
    show().then(send);
  }

  // Quick entry with no signal: the cadet's row on this sheet is marked and queued like a saved mark.
  function quickEntryOffline(mark) {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (navigator.onLine || !form.matches("form.quick-entry")) { return; }
      event.preventDefault();
      event.stopPropagation();  // muster.js would post it and fail
      var box = form.querySelector("input[name=student_id]"), typed = box.value.trim();
      var row = typed && document.querySelector("tr[data-student-id=\"" + CSS.escape(typed) + "\"]");
      var item = document.createElement("li");
      if (row) {
        item.className = "ok";
        item.textContent = row.querySelector("td").firstChild.textContent.trim() + " (" + typed + ") " + mark(row);
      } else {
        item.className = "bad";
        item.textContent = (typed || "(empty)") + ": not on this sheet; with no connection only the cadets shown can be marked.";
      }
      var log = form.querySelector(".quick-log");
      log.insertBefore(item, log.firstChild);
      box.value = "";
      box.focus();
    }, true);
  }

  function keepForOffline() {
    if (!navigator.serviceWorker) { return; }
    navigator.serviceWorker.register("/sw.js").then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) {
        // A page not loaded through the worker (the first visit) is handed to it to keep, with its files.
        var entry = performance.getEntriesByType("navigation")[0];
        var viaWorker = entry && entry.workerStart > 0;
        var assets = Array.prototype.map.call(document.querySelectorAll("link[href], script[src]"), function (el) {
          return el.href || el.src;
        }).filter(function (u) { return new URL(u).pathname.indexOf("/static/") === 0; });
        reg.active.postMessage({ type: "keep", page: viaWorker ? null : location.href,
                                 assets: assets });
      }).catch(function () { return null; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.sheet[data-sync]");
    if (!form || !window.indexedDB || !window.fetch) { return; }
    keepForOffline();
    sheetPage(form);
  });
})(self);
