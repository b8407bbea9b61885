// Live cards: one request per page per interval for all the cards it shows (views/live.py).
// The page sends each card's id and the token it was drawn with; the answer holds only the
// cards that changed (swapped in by id), or is a 304 when none did. Without this file the
// page still works: a reload shows the current state.
(function () {
  "use strict";
  var timer = null;

  function liveCards() {
    return Array.prototype.filter.call(
      document.querySelectorAll("article[id^='gen-'][data-live-token]"),
      function (card) { return card.dataset.livePoll; }
    );
  }

  function schedule() {
    clearTimeout(timer);
    var url = document.body.dataset.liveUrl;
    if (!url || document.hidden) return;
    var every = Math.min.apply(null, liveCards().map(function (card) {
      return Number(card.dataset.livePoll);
    }));
    if (isFinite(every)) timer = setTimeout(function () { poll(url); }, every * 1000);
  }

  function poll(url) {
    var known = liveCards().map(function (card) {
      return card.id.slice(4) + "." + card.dataset.liveToken;
    });
    if (!known.length) return;
    fetch(url + "?c=" + known.join(","), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        // The session ended: sign in for real and come back here.
        if (response.redirected && new URL(response.url).pathname.indexOf("/accounts/login/") === 0) {
          location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname + location.search));
          return null;
        }
        return response.status === 200 ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var holder = document.createElement("template");
        holder.innerHTML = html;
        holder.content.querySelectorAll("article[id^='gen-']").forEach(function (fresh) {
          var shown = document.getElementById(fresh.id);
          if (!shown) return;
          shown.replaceWith(fresh);
          if (window.htmx) window.htmx.process(fresh);
        });
      })
      .catch(function () { /* offline for a moment: the next interval tries again */ })
      .finally(schedule);
  }

  document.addEventListener("DOMContentLoaded", schedule);
  document.addEventListener("htmx:afterSettle", schedule); // new cards, e.g. after a submit
  document.addEventListener("visibilitychange", schedule);
})();
