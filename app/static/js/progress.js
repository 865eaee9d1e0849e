// Job progress (spreadsheet imports, allocation rounds): every element with a data-status-url
// holds a <progress> bar and a role="status" line; poll that JSON status, move the bar and reload
// the page when the job has finished. Progressive enhancement (CSP: no inline script): without JS
// the page shows the state at load and a reload shows the result.
(function () {
  "use strict";
  function watch(box) {
    var url = box.getAttribute("data-status-url");
    var bar = box.querySelector("progress");
    var text = box.querySelector("[role=status]");
    if (!url || !bar || !text) { return; }
    var delay = 1000;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (resp) {
          if (!resp.ok) { throw new Error("status " + resp.status); }
          return resp.json();
        })
        .then(function (data) {
          bar.value = data.progress;
          bar.textContent = data.progress + "%";
          text.textContent = data.final ? data.status_label : data.status_label + " · " + data.progress + "%";
          if (data.final) {
            window.location.reload();
          } else {
            delay = 1000;
            window.setTimeout(poll, delay);
          }
        })
        .catch(function () {
          delay = Math.min(delay * 2, 15000);  // back off while the server is busy or offline
          window.setTimeout(poll, delay);
        });
    }
    window.setTimeout(poll, delay);
  }
  function start() {
    var boxes = document.querySelectorAll("[data-status-url]");
    for (var i = 0; i < boxes.length; i++) { watch(boxes[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
