/* "Turn on notifications on this device" on the preferences page: subscribes this browser to Web
   Push with the site's VAPID key and sends the subscription to the server (JSON, CSRF header). */
(function () {
  "use strict";
  var box = document.querySelector("[data-push]");
  if (!box) {
    return;
  }
  var status = box.querySelector("[data-push-status]");
  var onButton = box.querySelector("[data-push-on]");
  var offButton = box.querySelector("[data-push-off]");
  var token = box.getAttribute("data-csrf");

  function say(key) {
    status.textContent = box.getAttribute("data-msg-" + key) || "";
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body),
    }).then(function (resp) {
      if (!resp.ok) {
        throw new Error("HTTP " + resp.status);
      }
      return resp.json();
    });
  }

  function show(subscribed) {
    onButton.hidden = subscribed;
    offButton.hidden = !subscribed;
    say(subscribed ? "on" : "off");
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    say("unsupported");
    onButton.hidden = true;
    return;
  }

  navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
    return navigator.serviceWorker.ready;
  }).then(function (reg) {
    return reg.pushManager.getSubscription();
  }).then(function (sub) {
    show(Boolean(sub));
  }).catch(function () {
    say("error");
  });

  onButton.addEventListener("click", function () {
    say("working");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        say("denied");
        throw null;
      }
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      return reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(box.getAttribute("data-key")),
      });
    }).then(function (sub) {
      return post(box.getAttribute("data-subscribe"), sub.toJSON());
    }).then(function () {
      show(true);
    }).catch(function (err) {
      if (err !== null) {
        say("error");
      }
    });
  });

  offButton.addEventListener("click", function () {
    say("working");
    navigator.serviceWorker.ready.then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (sub) {
      if (!sub) {
        return null;
      }
      var endpoint = sub.endpoint;
      return sub.unsubscribe().then(function () {
        return post(box.getAttribute("data-unsubscribe"), { endpoint: endpoint });
      });
    }).then(function () {
      show(false);
    }).catch(function () {
      say("error");
    });
  });
})();
