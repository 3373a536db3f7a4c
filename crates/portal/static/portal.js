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
  } catch (e) {
    // Old browsers: times stay in the provider's zone and UTC.
  }
  // After a boosted page change, move focus to the new page's content for
  // screen readers (not after a partial swap such as the next week's slots).
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.boosted && event.detail.target === document.body) {
      var main = document.getElementById("main");
      if (main) { main.focus({ preventScroll: false }); }
    }
  });
})();
