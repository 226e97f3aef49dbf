// Scan boxes of the order pages (shipping and receiving). A keyboard-wedge scanner types each code and ends it with
// Enter, which in a textarea starts the next line, so the boxes work without JavaScript; this script only counts the
// codes as they arrive, points out a code scanned twice (the server would refuse the whole receipt) and keeps a
// double click from posting twice. GS characters inside codes are never touched.
(function () {
  "use strict";
  var root = document.querySelector(".orders");
  if (!root) {
    return;
  }
  var countTemplate = root.getAttribute("data-count-template") || "{n}";
  var repeatTemplate = root.getAttribute("data-repeat-template") || "{n}";

  function codes(text) {
    return text
      .split("\n")
      .map(function (line) {
        return line.replace(/\r/g, "").replace(/^[ \t]+|[ \t]+$/g, "");
      })
      .filter(function (line) {
        return line.length > 0;
      });
  }

  function firstWord(line) {
    return line.split(/[ \t]+/)[0];
  }

  Array.prototype.forEach.call(root.querySelectorAll("textarea[data-scan-box]"), function (box) {
    var counter = document.createElement("p");
    counter.className = "hint scan-count";
    counter.setAttribute("aria-live", "polite");
    box.insertAdjacentElement("afterend", counter);

    function update() {
      var seen = {};
      var repeats = 0;
      var list = codes(box.value).map(firstWord);
      list.forEach(function (code) {
        if (seen[code]) {
          repeats += 1;
        }
        seen[code] = true;
      });
      var text = countTemplate.replace("{n}", String(list.length));
      if (repeats) {
        text += " · " + repeatTemplate.replace("{n}", String(repeats));
      }
      counter.textContent = text;
      counter.classList.toggle("field-error", repeats > 0);
    }

    box.addEventListener("input", update);
    update();
  });

  Array.prototype.forEach.call(root.querySelectorAll("form[method=post]"), function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        // Disabled after the browser has read the form, so the post still carries the button.
        window.setTimeout(function () {
          button.disabled = true;
        }, 0);
      }
    });
  });

  // Back from the next page shows a cached form: let it post again (its idempotency key makes a repeat harmless).
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      Array.prototype.forEach.call(root.querySelectorAll("button[type=submit]"), function (button) {
        button.disabled = false;
      });
    }
  });
})();
