// Progressive enhancement only: every page works without this file.
// (The workspace switcher deliberately has a button instead of submitting on change: with a keyboard, every
// arrow key press on a select fires "change", which would navigate away while the user is still choosing.)
// 1. The first error summary on a page takes focus, so screen readers announce it.
// 2. Status cells under a data-poll element refresh every few seconds while the page is visible; a Deployment
//    the answer no longer lists has been removed for good. On a Deployment's page commander's messages refresh
//    too, and the notices shown at load (what had just happened) go once the status moves on; so does the Upgrade
//    box (a pending upgrade's phase, the last one's failure) and the Airflow version it runs. Its Settings page
//    polls the same answer for its Airflow version section (notice, failure, Cancel or Upgrade, versions offered).
(function () {
  "use strict";

  var focusTarget = document.querySelector("[data-focus]");
  if (focusTarget) { focusTarget.focus(); }

  var poller = document.querySelector("[data-poll]");
  if (!poller) { return; }
  var url = poller.getAttribute("data-poll");

  function setStatus(holder, status) {
    var badge = holder.querySelector('[data-field="status"]');
    if (!badge || badge.textContent === status) { return false; }
    badge.textContent = status;
    badge.className = "status status-" + status;
    return true;
  }

  function setMessage(holder, text) {
    var message = holder.querySelector('[data-field="message"]');
    if (message && message.textContent !== text) { message.textContent = text; }
  }

  function apply(rows) {
    var seen = {};
    var changed = false;
    rows.forEach(function (row) {
      seen[row.id] = true;
      var holder = document.querySelector('[data-deployment="' + row.id + '"]');
      if (!holder) { return; }
      changed = setStatus(holder, row.status) || changed;
      setMessage(holder, row.message || "");
    });
    document.querySelectorAll("tr[data-deployment]").forEach(function (holder) {
      if (seen[holder.getAttribute("data-deployment")]) { return; }
      setStatus(holder, "deleted");
      setMessage(holder, "Removed: commander has deleted everything of it.");
    });
    return changed;
  }

  function events(list) {
    var target = document.querySelector("[data-events]");
    if (!target) { return; }
    target.replaceChildren.apply(target, list.map(function (e) {
      var item = document.createElement("li");
      item.className = "event event-" + e.level;
      var time = document.createElement("time");
      time.setAttribute("datetime", e.at);
      time.textContent = e.when;
      var level = document.createElement("span");
      level.className = "level";
      level.textContent = e.level;
      var text = document.createElement("span");
      text.className = "msg";
      text.textContent = e.text;
      item.append(time, " ", level, " ", text);
      return item;
    }));
    var none = document.querySelector("[data-no-events]");
    if (none) { none.hidden = list.length > 0; }
  }

  // The upgrade's parts, on the Deployment page (its Upgrade box, hidden with neither notice nor error) and on its
  // Settings page (the Airflow version section): texts, the version it runs, what may be done now (elements whose
  // data-rollout-when is among r.actions show) and the versions offered.
  function rollout(r) {
    ["notice", "error"].forEach(function (name) {
      document.querySelectorAll('[data-rollout-field="' + name + '"]').forEach(function (line) {
        if (line.textContent !== r[name]) { line.textContent = r[name]; }
        line.hidden = !r[name];
      });
    });
    var card = document.querySelector("[data-rollout-card]");
    if (card) { card.hidden = !(r.notice || r.error); }
    var version = document.querySelector('[data-rollout-field="version"]');
    var shown = r.airflow_version + (r.image ? " (image " + r.image + ")" : "");
    if (version && version.textContent !== shown) {
      version.replaceChildren(r.airflow_version);
      if (r.image) {
        var ref = document.createElement("span");
        ref.className = "mono";
        ref.textContent = r.image;
        version.append(" (image ", ref, ")");
      }
    }
    document.querySelectorAll("[data-rollout-when]").forEach(function (part) {
      part.hidden = r.actions.indexOf(part.getAttribute("data-rollout-when")) < 0;
    });
    var offered = document.querySelector("[data-rollout-offered]");
    var have = offered ? Array.prototype.map.call(offered.options, function (o) { return o.value; }) : [];
    if (offered && have.join(" ") !== r.offered.join(" ")) {
      var chosen = offered.value;
      offered.replaceChildren.apply(offered, r.offered.map(function (v) {
        var option = document.createElement("option");
        option.value = v;
        option.textContent = "Airflow " + v;
        return option;
      }));
      if (r.offered.indexOf(chosen) >= 0) { offered.value = chosen; }
    }
  }

  function poll() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var changed = apply(data.deployments);
        if (data.rollout) { rollout(data.rollout); }
        if (data.events) {
          events(data.events);
          if (changed) { document.querySelectorAll(".notice").forEach(function (n) { n.remove(); }); }
        }
      })
      .catch(function () { /* a missed poll is retried on the next tick */ });
  }
  window.setInterval(poll, 5000);
})();

// 3. The New Deployment namespace search (pools with many free namespaces): as the user types, ask the server for
//    the first matching free names and offer them in the field's datalist; when no free name contains what was
//    typed, the hint below the field says so (an empty list alone shows nothing at all). Without this script the
//    field still takes a typed name, and the server-rendered suggestions are the first free names.
(function () {
  "use strict";
  var input = document.querySelector("[data-namespace-search]");
  if (!input || !input.list) { return; }
  var url = input.getAttribute("data-namespace-search");
  var list = input.list;
  var hint = document.getElementById(input.getAttribute("aria-describedby"));
  var usual = hint ? hint.textContent : "";
  var timer = null;
  var asked = null;

  function show(names, q, free) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    names.forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;
      list.appendChild(option);
    });
    if (!hint) { return; }
    hint.textContent = names.length || !q ? usual :
      "No free namespace contains \u201c" + q + "\u201d (" + Number(free).toLocaleString("en-US") +
      " of the pool are free right now): type another part of a name.";
  }

  function ask() {
    var q = input.value.trim();
    if (q === asked) { return; }
    asked = q;
    fetch(url + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data && asked === q) { show(data.names, q, data.free); } })
      .catch(function () { /* the next keystroke asks again */ });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, 150);
  });
})();

// 4. The DAG deploy choice (New Deployment, a Deployment's DAG deploy page): only the chosen mechanism's fields
//    show (the groups whose data-dag-fields is the checked radio's value). Without this script every group shows,
//    each labelled for the mechanism it belongs to, and the server uses only the chosen one's.
(function () {
  "use strict";
  var groups = document.querySelectorAll("[data-dag-fields]");
  if (!groups.length) { return; }
  var radios = document.querySelectorAll('input[type="radio"][name="dag_deployment"]');

  function show() {
    var chosen = "image";
    radios.forEach(function (radio) { if (radio.checked) { chosen = radio.value; } });
    groups.forEach(function (group) { group.hidden = group.getAttribute("data-dag-fields") !== chosen; });
  }

  radios.forEach(function (radio) { radio.addEventListener("change", show); });
  show();
})();
