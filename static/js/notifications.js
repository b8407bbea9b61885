// Proof Studio — keep the header's unread count fresh: every 30 s while the tab is
// visible (and at once when it becomes visible again), swap in the bell from the server.
(function () {
  "use strict";
  var EVERY_MS = 30000;

  function refresh() {
    var bell = document.getElementById("bell");
    if (!bell || !window.htmx || document.visibilityState !== "visible") return;
    window.htmx.ajax("GET", bell.dataset.badgeUrl, { target: "#bell", swap: "outerHTML" });
  }

  setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", refresh);
})();
