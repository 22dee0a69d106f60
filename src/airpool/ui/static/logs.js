// Live tail on a Deployment's logs page: new lines from /deployments/<id>/logs/stream (Server-Sent Events), after
// the last line the page shows. Without JavaScript the page is a plain form and the button stays hidden.
(function () {
  "use strict";
  var list = document.querySelector("[data-log-lines]");
  var button = document.querySelector("[data-live-tail]");
  var state = document.querySelector("[data-log-state]");
  if (!list || !button || !window.EventSource) { return; }
  var source = null;
  var after = list.getAttribute("data-after") || new Date().toISOString();
  var MAX = 5000;

  function say(text) { if (state) { state.textContent = text; } }

  function add(line) {
    var item = document.createElement("li");
    var time = document.createElement("time");
    time.setAttribute("datetime", line.at);
    time.title = line.at + " · " + line.pod;
    time.textContent = line.time;
    var text = document.createElement("span");
    text.className = "log-text";
    text.textContent = line.text;
    item.append(time, " ", text);
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    list.appendChild(item);
    while (list.children.length > MAX) { list.removeChild(list.firstChild); }
    after = line.at;
    if (atBottom) { item.scrollIntoView({block: "end"}); }
  }

  function stop(message) {
    if (source) { source.close(); source = null; }
    button.textContent = "Live tail";
    button.setAttribute("aria-pressed", "false");
    if (message) { say(message); }
  }

  function start() {
    var url = list.getAttribute("data-stream") + "?" + new URLSearchParams({
      component: list.getAttribute("data-component"),
      search: list.getAttribute("data-search"),
      after: after
    }).toString();
    source = new EventSource(url);
    button.textContent = "Pause";
    button.setAttribute("aria-pressed", "true");
    say("Live: new lines appear below as they are written.");
    source.addEventListener("line", function (e) { add(JSON.parse(e.data)); });
    source.addEventListener("failure", function (e) { stop("Live tail stopped: " + e.data); });
    source.onerror = function () {
      // The browser reconnects by itself; it resumes after the last line shown.
      if (source) { say("Live tail: reconnecting…"); }
    };
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    if (source) { stop("Paused."); } else { start(); }
  });
})();
