// Optional niceties; every page works without this file.
(function () {
  "use strict";
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
    // Attendance sheet: a "set all to present" helper that only fills the choices (saving stays explicit).
    var sheet = document.querySelector("form.sheet");
    if (sheet) {
      var bar = sheet.querySelector(".sheet-buttons");
      var fill = document.createElement("button");
      fill.type = "button";
      fill.className = "secondary";
      fill.textContent = "Set all to present";
      fill.addEventListener("click", function () {
        sheet.querySelectorAll("select.status-select").forEach(function (s) { s.value = "present"; });
      });
      bar.insertBefore(fill, bar.firstChild);
    }
  });
})();
