// DatasetGateway admin console: progressive enhancement only; every page works without it.
// Times stay in UTC, as written; the reader's local time is added as a tooltip.
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var d = new Date(el.getAttribute("datetime"));
  if (!isNaN(d)) {
    el.title = d.toLocaleString(undefined, { timeZoneName: "short" }) + " (your time)";
  }
});
