// Scan station: checks each scan in the background, clears and refocuses the field at once so the next scan (a
// keyboard-wedge scanner types fast and ends with Enter) is never lost, and swaps in the verdict and the log.
// Without JavaScript the form posts normally and the server renders the same page with an empty, focused field.
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form || !window.fetch || !window.FormData || !window.DOMParser) {
    return;
  }
  var input = form.querySelector("input[name=code]");
  var quantity = form.querySelector("input[name=quantity]");
  var queue = [];
  var busy = false;

  function refocus() {
    input.focus();
  }

  // Replace a region of the page with the same region of the server's answer.
  function swap(doc, id) {
    var fresh = doc.getElementById(id);
    var current = document.getElementById(id);
    if (fresh && current) {
      current.replaceWith(fresh);
    }
  }

  // Scans are sent one after another: the running log lives in the session cookie, which each answer updates.
  function next() {
    if (busy || !queue.length) {
      return;
    }
    busy = true;
    form.classList.add("scan-form-busy");
    var job = queue.shift();
    fetch(form.action, { method: "POST", body: job.data, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || (response.status !== 200 && response.status !== 422)) {
          throw new Error("unexpected answer " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        swap(doc, "verdict");
        swap(doc, "scan-log");
        if (!document.activeElement || document.activeElement === document.body) {
          refocus();
        }
      })
      .catch(function () {
        // Signed out, an expired form or a network fault: post the scan the ordinary way and let the server answer.
        input.value = job.code;
        queue.length = 0;
        HTMLFormElement.prototype.submit.call(form);
      })
      .then(function () {
        busy = false;
        form.classList.remove("scan-form-busy");
        next();
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.value.trim()) {
      refocus();
      return;
    }
    var data = new FormData(form);
    queue.push({ data: data, code: input.value });
    input.value = "";
    if (quantity) {
      quantity.value = "";
    }
    refocus();
    next();
  });

  // Coming back through the browser's history shows a cached page: start again from an empty, focused field.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      input.value = "";
    }
    refocus();
  });
  refocus();
})();
