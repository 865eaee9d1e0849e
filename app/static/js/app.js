// Progressive enhancement only: every page works without this script (CSP: no inline script).
(function () {
  "use strict";
  // Files too large or too many are refused here, before anything is sent: the typed text stays
  // (a file over the server's limit would otherwise answer with an error page instead of the form).
  function fileProblem(input) {
    var files = input.files || [];
    var most = parseInt(input.getAttribute("data-max-files") || "0", 10);
    if (most && files.length > most) { return input.getAttribute("data-too-many"); }
    var limit = parseInt(input.getAttribute("data-max-bytes") || "0", 10);
    for (var i = 0; i < files.length; i++) {
      if (limit && files[i].size > limit) { return input.getAttribute("data-too-big").replace("{name}", files[i].name); }
    }
    return "";
  }
  function showFileProblem(input) {
    var problem = fileProblem(input);
    var id = input.id + "-size-error";
    var shown = document.getElementById(id);
    if (!problem) { if (shown) { shown.remove(); } input.removeAttribute("aria-invalid"); return false; }
    if (!shown) {
      shown = document.createElement("p");
      shown.id = id;
      shown.className = "error";
      shown.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", shown);
    }
    shown.textContent = problem;
    input.setAttribute("aria-invalid", "true");
    return true;
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.matches && input.matches("input[type=file][data-max-bytes]")) { showFileProblem(input); }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var refused = null;
    form.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
      if (showFileProblem(input) && !refused) { refused = input; }
    });
    if (refused) {
      event.preventDefault();
      refused.focus();
      return;
    }
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // Stop double submission: disable the buttons once the form is on its way.
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    // A posted form says it is on its way: on opening day an answer can take seconds, and a
    // disabled button alone looks like a dead page on a small phone. (Not for GET forms: a
    // filter or a download may leave the page where it is.)
    var button = event.submitter;
    var sending = document.body.getAttribute("data-sending");
    var posted = (form.getAttribute("method") || "").toLowerCase() === "post";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      if (posted && sending && button && button.tagName === "BUTTON") {
        button.dataset.label = button.textContent;
        button.textContent = sending;
        form.setAttribute("aria-busy", "true");
      }
    }, 0);
  });
  // Back to a page the browser kept in memory after a submit: its forms work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.disabled = false;
        if (b.dataset.label !== undefined) {
          b.textContent = b.dataset.label;
          delete b.dataset.label;
        }
      });
    });
  });
  // Move focus to the error summary so that screen readers announce it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
})();
