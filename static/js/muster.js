// Optional niceties; every page works without this file.
(function () {
  "use strict";

  // Quick entry on the attendance sheet: each id (typed, or a USB scanner's keys ending in Enter) is posted
  // with fetch; the answer is listed, and the box is cleared and focused at once for the next id.
  function quickEntry(form) {
    var box = form.querySelector("input[name=student_id]");
    var log = form.querySelector(".quick-log");
    function report(text, kind) {
      var item = document.createElement("li");
      item.className = kind;
      item.textContent = text;
      log.insertBefore(item, log.firstChild);
      while (log.children.length > 6) { log.removeChild(log.lastChild); }
    }
    function showOnSheet(data) {
      var row = document.querySelector("tr[data-student-id=\"" + CSS.escape(data.student_id) + "\"]");
      if (!row) { return; }
      row.querySelector("select.status-select").value = data.status;
      row.classList.add("quick-marked");
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var typed = box.value.trim();
      var body = new FormData(form);
      box.value = "";
      box.focus();
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                           headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (answer.error) {
            var why = (answer.details && answer.details.student_id) ? answer.details.student_id[0] : answer.message;
            report((typed || "(empty)") + ": " + why, "bad");
            return;
          }
          report(answer.data.message, answer.data.created ? "ok" : "info");
          showOnSheet(answer.data);
        })
        .catch(function () { report((typed || "(empty)") + ": not saved; reload the page and try again.", "bad"); });
    });
  }

  // Phones show each table row as a card (muster.css): every cell carries its column's name.
  function labelCells(table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) { return; }
    var names = Array.prototype.map.call(heads, function (th) {
      return th.textContent.replace(/[\u25b2\u25bc]/g, "").replace(/\s+/g, " ").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (names[i] && !cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) {
          cell.setAttribute("data-label", names[i]);
        }
      });
    });
  }

  // A table that must scroll sideways is a focusable, labelled region (keyboard users can scroll it).
  function markScrollers() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      wrap.classList.toggle("scrolls", scrolls);
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var heading = wrap.closest("section, main").querySelector("h1, h2");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", (heading ? heading.textContent.trim() : "Table") + " (scrolls sideways)");
      } else if (!scrolls && wrap.getAttribute("role") === "region") {
        ["tabindex", "role", "aria-label"].forEach(function (name) { wrap.removeAttribute(name); });
      }
    });
  }

  // On the attendance sheet Ctrl+Enter (or Cmd+Enter) from any control goes to the Save button stuck to the
  // foot of the screen, so a keyboard user does not tab through every row to save.
  function saveShortcut(sheet) {
    var save = document.getElementById("sheet-save");
    var hint = document.getElementById("sheet-keys");
    if (!save) { return; }
    if (hint) { hint.hidden = false; }
    sheet.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        save.focus();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.data").forEach(labelCells);
    markScrollers();
    window.addEventListener("resize", markScrollers);
    // After a failed submit the error summary takes focus, so it is in sight and read out first.
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
    var sheet = document.querySelector("form.sheet");
    if (sheet) { saveShortcut(sheet); }
    // "Tick every row" checkbox on tables with bulk actions (hidden unless scripts run).
    document.querySelectorAll("input.check-all").forEach(function (all) {
      all.hidden = false;
      var boxes = all.closest("table").querySelectorAll("tbody input[type=checkbox][name=ids]");
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
      });
    });
    // Forms that ask before a destructive action.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    var quick = document.querySelector("form.quick-entry");
    if (quick && window.fetch) { quickEntry(quick); }
  });
})();
