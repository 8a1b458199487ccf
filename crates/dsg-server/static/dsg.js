// DatasetGateway web UI: local-time tooltips on UTC dates, copy buttons, refusals shown, and the
// CSRF header on every htmx request. No inline script anywhere (CSP).
(function () {
  "use strict";
  // Times stay in UTC as the server wrote them (an expiry date is the same
  // date everywhere); the reader's local time is only a tooltip.
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = d.toLocaleString(undefined, { timeZoneName: "short" }) + " (your time)";
    });
  }
  // htmx leaves a refused request's target as it was; show the refusal instead
  // (the server answers htmx errors with a short alert fragment).
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status >= 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
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
    // A refused form: move focus to the summary of what to fix.
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
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
