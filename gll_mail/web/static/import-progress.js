/* The import page: while the import runs, polls its JSON every 2 seconds and moves the progress
   bar; when it ends, reloads the page to show the counts and the problems. */
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.getAttribute("data-busy") !== "yes") return;
  function set(id, value) { document.getElementById(id).textContent = value; }
  function poll() {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        var status = document.getElementById("i-status");
        status.textContent = j.status; status.className = "status status-" + j.status;
        var bar = document.getElementById("i-bar");
        bar.max = j.total || 1; bar.value = j.processed || 0; bar.textContent = j.percent + "%";
        set("i-processed", j.processed); set("i-total", j.total); set("i-percent", j.percent);
        if (j.status !== "checking" && j.status !== "running") { window.location.reload(); return; }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
