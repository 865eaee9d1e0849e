/* The installable app on every page: registers the service worker (/sw.js, scope "/"), asks it to
   empty its page cache when the user logs out, and shows the install hint on phones. */
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) {
    return;
  }
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.action && new URL(form.action, location.href).pathname === "/auth/logout") {
      if (navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({ type: "clear" });
      }
    }
  });

  var hint = document.querySelector("[data-install-hint]");
  if (!hint) {
    return;
  }
  var standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  var phone = window.matchMedia("(max-width: 700px)").matches;
  var dismissed = false;
  try {
    dismissed = localStorage.getItem("install-hint-dismissed") === "1";
  } catch (e) {
    dismissed = false;
  }
  if (standalone || !phone || dismissed) {
    return;
  }
  var prompt = null;
  var installButton = hint.querySelector("[data-install]");
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    prompt = event;
    installButton.hidden = false;
    hint.hidden = false;
  });
  if (/iphone|ipad/i.test(navigator.userAgent)) {
    hint.querySelector("[data-ios]").hidden = false;
    hint.hidden = false;
  }
  installButton.addEventListener("click", function () {
    if (prompt) {
      prompt.prompt();
      prompt = null;
    }
    hint.hidden = true;
  });
  hint.querySelector("[data-dismiss]").addEventListener("click", function () {
    hint.hidden = true;
    try {
      localStorage.setItem("install-hint-dismissed", "1");
    } catch (e) {
      /* private mode: the hint comes back next time */
    }
  });
})();
