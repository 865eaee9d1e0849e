// Allocation round progress: poll the round's JSON status, move the <progress> bar, reload when
// the run has finished. Progressive enhancement (CSP: no inline script): without JS the page
// shows the state at load and a reload shows the result.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("round-progress");
    if (!box) { return; }
    var url = box.getAttribute("data-status-url");
    if (!url) { return; }
    var bar = document.getElementById("round-progress-bar");
    var text = document.getElementById("round-progress-text");
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
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
