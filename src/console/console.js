// The console's little JavaScript; every page works without it.
// - A campaign's announcement: its progress, read again every 2 s while
//   messages are still queued.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || !box.dataset.progressUrl) return;
  var bar = box.querySelector("progress");
  function tick() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) return;
        bar.max = Math.max(p.total, 1);
        bar.value = p.total - p.queued;
        ["sent", "queued", "failed", "skipped"].forEach(function (k) {
          var e = box.querySelector('[data-field="' + k + '"]');
          if (e) e.textContent = p[k];
        });
        if (p.queued > 0) setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1000);
})();
