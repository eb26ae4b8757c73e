// Print pages: a Print button (the page prints from the browser's own menu without this file).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("print-button");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    }
  });
})();
