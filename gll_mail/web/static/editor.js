/* The campaign editor: language tabs, autosave (with the preflight's answer shown beside each
   line), the live audience count, the link picker and the preview. Everything also works without
   this script, through the Save button and the preview form. */
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  if (!form) return;
  var state = document.getElementById("save-state");
  var hash = document.getElementById("files_hash");
  var frame = document.getElementById("preview");
  var frameBox = document.getElementById("frame-box");
  var lastBody = null, timer = null, saving = false, again = false, conflict = false;
  var pending = false, afterSave = null;

  /* tabs */
  var tabs = Array.prototype.slice.call(form.querySelectorAll("[role=tab]"));
  function show(tab) {
    tabs.forEach(function (t) {
      var on = t === tab, panel = document.getElementById(t.getAttribute("aria-controls"));
      t.setAttribute("aria-selected", on ? "true" : "false");
      panel.hidden = !on;
    });
  }
  tabs.forEach(function (t) {
    t.addEventListener("click", function (e) { e.preventDefault(); show(t); });
  });
  var linked = tabs.filter(function (t) { return "#" + t.getAttribute("aria-controls") === location.hash; })[0];
  if (tabs.length) show(linked || tabs[0]);

  /* the body the cursor was last in, for the link picker */
  var lastText = form.querySelector("textarea.body");
  form.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("textarea.body")) lastText = e.target;
  });
  document.getElementById("insert-link").addEventListener("click", function () {
    var select = document.getElementById("link-target");
    var option = select.options[select.selectedIndex];
    if (!option || !lastText) return;
    var title = option.textContent.replace(/ \((public|registered|pod:[^)]*)\)$/, "");
    var link = "[" + title + "](" + option.value + ")";
    var start = lastText.selectionStart, end = lastText.selectionEnd;
    if (end > start) link = "[" + lastText.value.slice(start, end) + "](" + option.value + ")";
    lastText.setRangeText(link, start, end, "end");
    lastText.focus();
    changed();
  });

  /* problems beside their lines */
  function listFor(problem) {
    if (problem.body_line === null && problem.language === "en") return document.getElementById("problems-meta");
    return document.getElementById("problems-" + problem.language);
  }
  function showProblems(problems) {
    Array.prototype.forEach.call(form.querySelectorAll("ul.problems"), function (ul) { ul.textContent = ""; });
    Array.prototype.forEach.call(form.querySelectorAll("[data-badge]"), function (b) { b.remove(); });
    var errors = {};
    problems.forEach(function (p) {
      var ul = listFor(p);
      if (!ul) return;
      var li = document.createElement("li");
      li.className = p.severity;
      if (p.body_line) li.setAttribute("data-line", p.body_line);
      li.textContent = p.severity.charAt(0).toUpperCase() + p.severity.slice(1) + " (" + p.where + "): " + p.message;
      if (p.diff) {  /* a stale translation: what changed in the English text */
        var details = document.createElement("details"), summary = document.createElement("summary");
        var pre = document.createElement("pre");
        details.dir = "ltr"; summary.textContent = "What changed in English";
        pre.className = "diff"; pre.textContent = p.diff;
        details.appendChild(summary); details.appendChild(pre); li.appendChild(details);
      }
      ul.appendChild(li);
      if (p.severity === "error") errors[p.language] = (errors[p.language] || 0) + 1;
    });
    Array.prototype.forEach.call(form.querySelectorAll("ul.problems"), function (ul) {
      if (!ul.children.length && ul.id !== "problems-meta") {
        var li = document.createElement("li"); li.className = "ok"; li.textContent = "No problems."; ul.appendChild(li);
      }
    });
    tabs.forEach(function (t) {
      var code = t.id.slice(4);
      if (errors[code]) {
        var b = document.createElement("span"); b.className = "badge"; b.setAttribute("data-badge", code);
        b.textContent = errors[code]; t.appendChild(document.createTextNode(" ")); t.appendChild(b);
      }
    });
  }
  form.addEventListener("click", function (e) {  /* a problem's line: select it in the text */
    var li = e.target.closest && e.target.closest("li[data-line]");
    if (!li || !li.getAttribute("data-line")) return;
    var panel = li.closest(".lang-panel"), text = panel && panel.querySelector("textarea.body");
    if (!text) return;
    var lines = text.value.split("\n"), line = Math.min(parseInt(li.getAttribute("data-line"), 10), lines.length);
    var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    text.focus();
    text.setSelectionRange(start, start + lines[line - 1].length);
  });

  /* autosave */
  function say(text, kind) { state.textContent = text; state.className = "save-state " + (kind || ""); }
  function reloadPreview() {
    var lang = document.getElementById("preview-lang").value;
    var member = document.getElementById("preview-member").value;
    frame.src = frame.getAttribute("data-base") + "?lang=" + encodeURIComponent(lang) +
      (member ? "&member=" + encodeURIComponent(member) : "") + "&t=" + Date.now();
  }
  function save() {
    if (conflict) return;
    if (saving) { again = true; return; }
    pending = false; saving = true; say("Saving…", "busy");
    var body = new FormData(form);
    fetch(form.getAttribute("data-autosave"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (data) { return { status: r.status, data: data }; }); })
      .then(function (res) {
        if (res.status === 409) {
          conflict = true; afterSave = null;
          say("Not saved: " + res.data.conflict + " Reload the page to see the files on disk (copy your text first).", "error");
          return;
        }
        if (res.status !== 200) { afterSave = null; say("Not saved: " + (res.data.error || "error"), "error"); return; }
        hash.value = res.data.files_hash;
        var errors = res.data.problems.filter(function (p) { return p.severity === "error"; }).length;
        say("Saved · revision " + res.data.revision + " · content " + res.data.content_hash +
          (errors ? " · " + errors + " preflight error(s)" : " · preflight passes"), errors ? "warn" : "ok");
        showProblems(res.data.problems);
        showTranslations(res.data.translations || {});
        reloadPreview();
      })
      .catch(function () { afterSave = null; say("Not saved: the server did not answer; your text is still here.", "error"); })
      .then(function () {
        saving = false;
        if (again) { again = false; save(); return; }
        if (afterSave) { var next = afterSave; afterSave = null; next(); }
      });
  }
  function changed() {
    if (conflict) return;
    pending = true; say("Changed · saving soon…", "busy");
    clearTimeout(timer);
    timer = setTimeout(save, 1200);
  }
  form.addEventListener("input", function (e) {
    if (e.target.id === "add" || e.target.id === "link-target") return;
    changed();
  });
  form.addEventListener("change", function (e) {
    if (e.target.name === "topics" || e.target.name === "pods" || e.target.name === "registered") countAudience();
  });

  /* each translation's status line; "Mark … as up to date" saves pending changes first */
  function showTranslations(states) {
    Object.keys(states).forEach(function (code) {
      var line = document.querySelector("[data-translation-state=" + code + "]");
      if (!line) return;
      line.parentNode.className = "translation-state " + states[code].state.replace(/ /g, "-");
      line.lastChild.textContent = " " + states[code].text + ".";
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.mark-form"), function (markForm) {
    markForm.addEventListener("submit", function (e) {
      if (!pending && !saving) return;
      e.preventDefault();
      clearTimeout(timer);
      afterSave = function () { markForm.submit(); };
      if (!saving) save();
    });
  });

  /* live audience count */
  function countAudience() {
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.querySelectorAll("input[name=topics]:checked, input[name=pods]:checked"),
      function (box) { params.append(box.name, box.value); });
    params.append("registered", form.querySelector("#registered").value);
    fetch(form.getAttribute("data-audience") + "?" + params.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var out = document.getElementById("audience-count");
        if (data.error) { out.textContent = data.error; return; }
        var parts = Object.keys(data.by_language).map(function (k) { return k + " " + data.by_language[k].toLocaleString(); });
        out.textContent = "";
        var strong = document.createElement("strong"); strong.textContent = data.total.toLocaleString();
        out.appendChild(strong);
        out.appendChild(document.createTextNode(" recipient(s)" + (parts.length ? ": " + parts.join(" · ") : "") +
          "; " + data.registered.toLocaleString() + " registered. Unsubscribed and suppressed addresses are left out."));
      });
  }

  /* preview controls without a page load */
  var previewForm = document.getElementById("preview-form");
  previewForm.addEventListener("submit", function (e) { e.preventDefault(); reloadPreview(); });
  document.getElementById("preview-lang").addEventListener("change", reloadPreview);
  document.getElementById("preview-device").addEventListener("change", function (e) {
    frameBox.className = "frame-box device-" + e.target.value;
  });
})();
