// sopflow console: live updates and SLA countdowns. No library; the pages work without it.
//
// One EventSource per tab on /console/events (the server pushes; this never polls). On a
// "changed" event for what the page shows (the inbox: any incident; an incident's page:
// that incident), the page is fetched again and its regions marked data-live are swapped
// in. The action forms are never replaced while someone is using them: a form whose step
// is no longer active gets a message instead. Every second, each <time data-due> says how
// long until (or since) it is due, and the polite live region announces what became overdue.
"use strict";

(function () {
  var body = document.body;
  var scope = body.getAttribute("data-live-scope");
  var shows = body.getAttribute("data-live-incident");
  var url = body.getAttribute("data-live-url");
  var announcer = document.getElementById("live-announce");
  var STALE = "This step is no longer active: what you typed is kept, but sending it will be refused.";

  // --- countdowns

  function words(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var parts = [];
    if (d) parts.push(d + " d");
    if (h) parts.push(h + " h");
    if (m) parts.push(m + " min");
    if (!d && !h) parts.push((s % 60) + " s");
    return parts.join(" ");
  }

  function tick() {
    var now = Date.now();
    var became = [];
    document.querySelectorAll("time[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var left = (due - now) / 1000;
      var over = left < 0;
      var text = over ? "overdue by " + words(left) : "due in " + words(left);
      if (el.textContent !== text) el.textContent = text;
      var holder = el.closest(".due") || el;
      var was = holder.classList.contains("overdue");
      if (over && !was && el.hasAttribute("data-seen")) {
        became.push(el.getAttribute("data-label") || "a step");
      }
      holder.classList.toggle("overdue", over);
      el.setAttribute("data-seen", "");
    });
    if (became.length && announcer) {
      announcer.textContent = "Now overdue: " + became.join(", ") + ".";
    }
  }

  // --- swapping in a newer copy of the page

  function focusedKey(region) {
    var el = document.activeElement;
    if (!el || !region.contains(el)) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    if (el.getAttribute("href")) return '[href="' + CSS.escape(el.getAttribute("href")) + '"]';
    return null;
  }

  function busy(section) {
    // Someone is using a form here: typed in it, focused in it, or it came back refused.
    return (
      section.contains(document.activeElement) && document.activeElement !== section ||
      section.querySelector("[data-typed], [role=alert], .error-summary") !== null
    );
  }

  function swapActions(fresh) {
    // Each part of the page holding forms (What you can do, the stakeholder update's, the
    // post-mortem review's), matched by its id, on its own.
    document.querySelectorAll("[data-live-actions][id]").forEach(function (section) {
      var next = fresh.getElementById(section.id);
      if (!next) return;
      if (!busy(section)) {
        section.innerHTML = next.innerHTML;
        return;
      }
      section.querySelectorAll(".action[id]").forEach(function (action) {
        if (next.querySelector("#" + CSS.escape(action.id))) return;
        if (action.querySelector(".stale-note")) return;
        var note = document.createElement("p");
        note.className = "notice stale-note";
        note.setAttribute("role", "status");
        note.textContent = action.getAttribute("data-stale") || STALE;
        var heading = action.querySelector("h3");
        if (heading) heading.after(note);
        else action.prepend(note);
      });
    });
  }

  function swap(fresh) {
    document.querySelectorAll("[data-live][id]").forEach(function (region) {
      var next = fresh.getElementById(region.id);
      if (!next || next.innerHTML === region.innerHTML) return;
      var key = focusedKey(region);
      region.innerHTML = next.innerHTML;
      if (key) {
        var again = region.querySelector(key);
        if (again) again.focus();
      }
    });
    swapActions(fresh);
    tick();
  }

  var fetching = false;
  var again = false;

  function refresh() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    fetch(url, { credentials: "same-origin", headers: { "X-Sopflow-Live": "1" } })
      .then(function (response) {
        if (response.redirected || !response.ok) return null;
        return response.text();
      })
      .then(function (html) {
        if (html) swap(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () {})
      .then(function () {
        fetching = false;
        body.setAttribute("data-live-updated", String(Date.now()));
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // --- the stream

  function listen() {
    if (!url || !window.EventSource) return;
    var source = new EventSource(window.location.origin + "/console/events");
    source.addEventListener("open", function () {
      body.setAttribute("data-live-state", "connected");
    });
    source.addEventListener("changed", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (scope === "inbox" || (scope === "incident" && data.incident === shows)) refresh();
    });
    source.addEventListener("signedout", function () {
      source.close();
      body.setAttribute("data-live-state", "closed");
    });
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("[data-live-actions] form");
    if (form) form.setAttribute("data-typed", "");
  });
  tick();
  window.setInterval(tick, 1000);
  listen();
})();
