/* The progress view: polls the campaign's figures every 2 seconds and updates the page. */
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  function set(id, value) { document.getElementById(id).textContent = value; }
  function eta(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    return Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
  }
  function poll() {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (f) {
        var status = document.getElementById("p-status");
        status.textContent = f.status; status.className = "status status-" + f.status;
        set("p-reason", f.paused_reason || "");
        set("p-sent", f.sent); set("p-failed", f.failed); set("p-queued", f.queued); set("p-total", f.total);
        set("p-rate", f.rate); set("p-eta", eta(f.eta));
        var bar = document.getElementById("p-bar");
        bar.max = f.total || 1; bar.value = f.done || 0; bar.textContent = f.done || 0;
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
