// File inputs with data-max-bytes: say at once when a chosen file is too large or empty, before
// the upload starts. The server checks again (413/400), so this is only a convenience.
(function () {
  "use strict";

  function check(input) {
    var max = parseInt(input.dataset.maxBytes, 10);
    var file = input.files && input.files[0];
    var message = "";
    if (file && max && file.size > max) message = input.dataset.tooLarge || "";
    else if (file && file.size === 0) message = input.dataset.empty || "";
    input.setCustomValidity(message);
    if (message) input.reportValidity();
  }

  function init() {
    document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
      input.addEventListener("change", function () { check(input); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
