// DatasetGateway web UI: dates in the reader's locale, copy buttons, and the
// CSRF header on every htmx request. No inline script anywhere (CSP).
(function () {
  "use strict";
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = el.textContent;
      el.textContent = el.dataset.date === "day"
        ? d.toLocaleDateString()
        : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    });
  }
  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var el = document.getElementById(b.dataset.copy);
        if (!el || !navigator.clipboard) return;
        navigator.clipboard.writeText(el.value || el.textContent).then(function () {
          b.textContent = "Copied";
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localise(document);
    copyButtons(document);
  });
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) e.detail.headers["X-CSRF-Token"] = meta.content;
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    localise(e.target);
    copyButtons(e.target);
  });
})();
