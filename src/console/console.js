// The console's little JavaScript; every page works without it.
// - The counter's camera scanner: reads a member card's or a voucher's QR
//   code into the search box and looks it up. BarcodeDetector where the
//   browser has it, else the vendored jsQR decoder (loaded on first use).
// - A campaign's announcement: its progress, read again every 2 s while
//   messages are still queued.
(function () {
  "use strict";
  var button = document.getElementById("scan");
  var find = document.getElementById("find");
  if (!button || !find || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  var input = find.querySelector("input[name=q]");
  var video = document.getElementById("scan-video");
  button.hidden = false;
  var stream = null;

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  }

  function found(text) {
    stop();
    input.value = text.trim();
    find.submit();
  }

  function decoder() {
    if ("BarcodeDetector" in window) {
      return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) throw new Error("no QR");
        var d = new window.BarcodeDetector({ formats: ["qr_code"] });
        return function () {
          return d.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        };
      }).catch(jsqr);
    }
    return jsqr();
  }

  function jsqr() {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = "/console/vendor/jsQR.js";
      s.onload = function () {
        var canvas = document.createElement("canvas");
        var ctx = canvas.getContext("2d", { willReadFrequently: true });
        resolve(function () {
          var w = video.videoWidth, h = video.videoHeight;
          if (!w || !h) return Promise.resolve(null);
          canvas.width = w; canvas.height = h;
          ctx.drawImage(video, 0, 0, w, h);
          var code = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
          return Promise.resolve(code ? code.data : null);
        });
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        return video.play().then(decoder);
      })
      .then(function (detect) {
        (function look() {
          if (!stream) return;
          detect().then(function (text) {
            if (text) found(text); else setTimeout(look, 200);
          }, function () { setTimeout(look, 500); });
        })();
      })
      .catch(function () { stop(); input.focus(); });
  });
})();

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

// - A payment with points waiting for the customer: the page is read again as
//   soon as their answer changes it.
(function () {
  "use strict";
  var box = document.getElementById("payment");
  if (!box || box.dataset.status !== "awaiting_confirmation") return;
  function tick() {
    fetch(box.dataset.paymentUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (p && p.status !== box.dataset.status) { window.location.reload(); return; }
        setTimeout(tick, 1500);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1500);
})();
