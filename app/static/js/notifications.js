// Sender report: refresh the progress bar, the per-family counts and the per-channel table
// until every delivery is sent or failed.
(function () {
  "use strict";
  var box = document.getElementById("delivery-progress");
  if (!box || box.dataset.finished === "true") { return; }
  var bar = document.getElementById("delivery-bar");
  var delay = 1000;
  function show(data) {
    bar.value = data.percent;
    bar.textContent = data.percent + "%";
    var pct = box.querySelector('[data-count="percent"]');
    if (pct) { pct.textContent = data.percent; }
    var families = data.families || {};
    Object.keys(families).forEach(function (key) {
      var el = box.querySelector('[data-family="' + key + '"]');
      if (el) { el.textContent = families[key]; }
    });
    // The per-channel table (deliveries, not families) moves with the bar.
    var cells = document.querySelectorAll("#channel-deliveries [data-channel]");
    for (var i = 0; i < cells.length; i++) {
      var c = (data.channels || {})[cells[i].getAttribute("data-channel")];
      var status = cells[i].getAttribute("data-status");
      if (c) { cells[i].textContent = status === "queued" ? c.queued + c.sending : c[status]; }
    }
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
