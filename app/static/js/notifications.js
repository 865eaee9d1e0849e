// Sender report: refresh the progress bar and counts until every delivery is sent or failed.
(function () {
  "use strict";
  var box = document.getElementById("delivery-progress");
  if (!box || box.dataset.finished === "true") { return; }
  var bar = document.getElementById("delivery-bar");
  var delay = 1000;
  function show(data) {
    bar.value = data.percent;
    bar.textContent = data.percent + "%";
    ["percent", "queued", "sent", "failed", "read"].forEach(function (key) {
      var el = box.querySelector('[data-count="' + key + '"]');
      if (el) { el.textContent = data[key]; }
    });
  }
  function poll() {
    fetch(box.dataset.url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        show(data);
        if (!data.finished) { window.setTimeout(poll, delay); }
      })
      .catch(function () { delay = Math.min(delay * 2, 30000); window.setTimeout(poll, delay); });
  }
  window.setTimeout(poll, delay);
})();
