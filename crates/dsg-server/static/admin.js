// DatasetGateway admin console: progressive enhancement only; every page works without it.
// Shows times in the reader's locale (the UTC text stays as the tooltip).
document.querySelectorAll("time[datetime]").forEach(function (el) {
  var d = new Date(el.getAttribute("datetime"));
  if (!isNaN(d)) {
    el.title = el.textContent;
    el.textContent = d.toLocaleString();
  }
});
