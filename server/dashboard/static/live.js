// Waymark dashboard: live updates. Listens to /dashboard/live (server-sent events) and,
// when a learner on this page syncs, updates their row's "Last sync" and "Freshness"
// cells and says so in the page's status line. Without this script the page still shows
// what was true when it loaded. No inline script anywhere: the page's CSP forbids it.
"use strict";

(function () {
  var table = document.querySelector("[data-live-url]");
  if (!table || typeof window.EventSource === "undefined") {
    return;
  }
  var status = document.getElementById("live-status");

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function rowOf(userId) {
    var rows = document.querySelectorAll("tr[data-learner]");
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i].getAttribute("data-learner") === userId) {
        return rows[i];
      }
    }
    return null;
  }

  function synced(event) {
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    var row = rowOf(data.user_id);
    if (!row) {
      return;
    }
    var last = row.querySelector("[data-cell='last-sync']");
    if (last) {
      var time = document.createElement("time");
      time.setAttribute("datetime", data.iso);
      time.textContent = data.local;
      last.textContent = "";
      last.appendChild(time);
      last.appendChild(document.createTextNode(" (" + data.ago + ")"));
    }
    var fresh = row.querySelector("[data-cell='freshness']");
    if (fresh) {
      var badge = document.createElement("span");
      badge.className = "fresh fresh-fresh";
      badge.textContent = "Synced within an hour";
      fresh.textContent = "";
      fresh.appendChild(badge);
    }
    row.classList.add("just-synced");
    say(data.username + " synced at " + data.local + ".");
  }

  var source = new EventSource(table.getAttribute("data-live-url"));
  source.addEventListener("open", function () {
    document.documentElement.setAttribute("data-live", "on");
    say("Live updates are on.");
  });
  source.addEventListener("error", function () {
    document.documentElement.setAttribute("data-live", "off");
    say("Live updates paused; reconnecting.");
  });
  source.addEventListener("synced", synced);
})();
