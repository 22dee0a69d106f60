// Progressive enhancement only: every page works without this file.
// (The workspace switcher deliberately has a button instead of submitting on change: with a keyboard, every
// arrow key press on a select fires "change", which would navigate away while the user is still choosing.)
// 1. The first error summary on a page takes focus, so screen readers announce it.
// 2. Status cells under a data-poll element refresh every few seconds while the page is visible.
(function () {
  "use strict";

  var focusTarget = document.querySelector("[data-focus]");
  if (focusTarget) { focusTarget.focus(); }

  var poller = document.querySelector("[data-poll]");
  if (!poller) { return; }
  var url = poller.getAttribute("data-poll");

  function apply(rows) {
    rows.forEach(function (row) {
      var holder = document.querySelector('[data-deployment="' + row.id + '"]');
      if (!holder) { return; }
      var status = holder.querySelector('[data-field="status"]');
      if (status && status.textContent !== row.status) {
        status.textContent = row.status;
        status.className = "status status-" + row.status;
      }
      var message = holder.querySelector('[data-field="message"]');
      if (message && message.textContent !== (row.message || "")) { message.textContent = row.message || ""; }
    });
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { apply(data.deployments); } })
      .catch(function () { /* a missed poll is retried on the next tick */ });
  }
  window.setInterval(poll, 5000);
})();
