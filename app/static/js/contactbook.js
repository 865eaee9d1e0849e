// Contact book enhancements (progressive: every form works without this script; CSP-safe).
(function () {
  "use strict";

  // Print buttons on printable sheets.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) { window.print(); }
  });

  // Grade entry: Enter moves down the column (like a spreadsheet), Shift+Enter up;
  // Tab moves along the row (native). Arrow up/down move between rows too.
  function gridMove(input, rowDelta) {
    var table = input.closest("table[data-grid]");
    if (!table) { return false; }
    var cell = input.closest("td");
    var row = cell.parentElement;
    var col = Array.prototype.indexOf.call(row.children, cell);
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var index = rows.indexOf(row) + rowDelta;
    while (index >= 0 && index < rows.length) {
      var target = rows[index].children[col];
      var next = target ? target.querySelector("input, select") : null;
      if (next && !next.disabled) {
        next.focus();
        if (next.select) { next.select(); }
        return true;
      }
      index += rowDelta;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (!el.closest || !el.closest("table[data-grid]")) { return; }
    if (el.tagName !== "INPUT" && el.tagName !== "SELECT") { return; }
    if (event.key === "Enter") {
      event.preventDefault();  // never submit the whole class by accident
      gridMove(el, event.shiftKey ? -1 : 1);
    } else if (el.tagName === "INPUT" && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      gridMove(el, event.key === "ArrowDown" ? 1 : -1);
    }
  });

  // A grid that scrolls in its own box keeps its headings in view only while the box is on
  // screen: a cell taking focus is shown whole (clear of the sticky headings: scroll-margin),
  // then the whole box is brought into view. A link of the error summary focuses its cell.
  document.addEventListener("focusin", function (event) {
    var box = event.target.closest ? event.target.closest("[data-grid-box]") : null;
    if (!box) { return; }
    event.target.scrollIntoView({ block: "nearest", inline: "nearest" });
    box.scrollIntoView({ block: "nearest" });
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest(".error-summary a[href^='#']") : null;
    var cell = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
    if (cell && cell.closest("[data-grid-box]")) {
      event.preventDefault();
      cell.focus();
    }
  });

  // Mark a changed cell so that the teacher sees what is not saved yet.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el.closest && el.closest("table[data-grid]")) {
      el.setAttribute("data-changed", el.value !== el.defaultValue ? "1" : "");
      var form = el.form;
      if (form) { form.setAttribute("data-dirty", "1"); }
    }
  });
  window.addEventListener("beforeunload", function (event) {
    var dirty = document.querySelector("form[data-dirty='1']:not([data-submitted='1'])");
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // "Mark everybody present" on the attendance page.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-all-present]") : null;
    if (!button) { return; }
    var form = button.form;
    form.querySelectorAll("input[data-attendance][value='present']").forEach(function (r) { r.checked = true; });
  });
})();
