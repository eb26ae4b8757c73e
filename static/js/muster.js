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

  document.addEventListener("DOMContentLoaded", function () {
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
