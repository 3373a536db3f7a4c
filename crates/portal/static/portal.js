// Tell the portal the browser's time zone, so times can be shown in it next to
// the provider's. A display preference only; the portal validates it.
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("carebook_tz=" + zone) === -1) {
      var secure = window.location.protocol === "https:" ? "; secure" : "";
      document.cookie = "carebook_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + secure;
    }
    // Registration sends the zone with the account, so the patient's emails
    // and reminders show their own time (the server checks the name).
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
      var fill = function () {
        var inputs = document.querySelectorAll("input[data-browser-time-zone]");
        for (var i = 0; i < inputs.length; i++) {
          if (!inputs[i].value) { inputs[i].value = zone; }
        }
      };
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", fill);
      } else {
        fill();
      }
      document.addEventListener("htmx:afterSettle", fill);
    }
  } catch (e) {
    // Old browsers: times stay in the provider's zone and UTC.
  }
  // A held slot's countdown: the page already says until when the slot is
  // held; this adds the minutes left beside it (hidden from screen readers,
  // which would hear every tick) and says once, politely, when one minute is
  // left and when the hold has ended.
  var timer = null;
  function startHoldTimer() {
    if (timer) { window.clearInterval(timer); timer = null; }
    var box = document.querySelector("[data-expires-at]");
    if (!box) { return; }
    var left = parseInt(box.getAttribute("data-seconds-left"), 10);
    if (isNaN(left)) { return; }
    // The server's count, not the browser's clock (which may be off).
    var ends = Date.now() + left * 1000;
    var shown = box.querySelector("[data-countdown]");
    var status = box.querySelector("[data-hold-status]");
    var warned = false;
    function tick() {
      var seconds = Math.max(0, Math.round((ends - Date.now()) / 1000));
      if (shown) {
        var m = Math.floor(seconds / 60);
        var s = seconds % 60;
        shown.textContent = "(" + m + ":" + (s < 10 ? "0" : "") + s + " left)";
        shown.hidden = false;
      }
      if (status && seconds <= 60 && seconds > 0 && !warned) {
        warned = true;
        status.textContent = "One minute left to confirm.";
      }
      if (seconds === 0) {
        window.clearInterval(timer);
        timer = null;
        if (status) {
          status.textContent = "The hold has ended and the time may be booked by someone else. Confirm to try anyway, or choose another time.";
        }
      }
    }
    tick();
    timer = window.setInterval(tick, 1000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startHoldTimer);
  } else {
    startHoldTimer();
  }
  document.addEventListener("htmx:afterSettle", startHoldTimer);

  // After a boosted page change, move focus to the new page's content for
  // screen readers (not after a partial swap such as the next week's slots).
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.boosted && event.detail.target === document.body) {
      var main = document.getElementById("main");
      if (main) { main.focus({ preventScroll: false }); }
    }
  });
})();
