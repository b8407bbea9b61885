// Proof Studio — the review queue without the mouse, and pinning comments to images.
// Everything here enhances plain forms: without this file the queue still works by
// clicking its buttons, and comments are still written (unpinned).
(function () {
  "use strict";

  var ITEM = "[data-review-item]";

  // --- the review queue ---------------------------------------------------------------
  // J/K move, A approves, R / C open the comment for reject / request changes (Enter
  // sends, Esc stops), X selects, Shift+A approves the selection, Z zooms, ? shows keys.

  var currentId = null;

  function queue() { return document.querySelector("[data-review-queue]"); }
  function items() { return Array.prototype.slice.call(document.querySelectorAll(ITEM)); }
  function current() { return currentId ? document.getElementById(currentId) : null; }
  function waiting(item) { return item && item.dataset.decided !== "1"; }

  function setCurrent(item, scroll) {
    items().forEach(function (each) { each.classList.toggle("is-current", each === item); });
    currentId = item ? item.id : null;
    if (!item) return;
    if (!item.contains(document.activeElement)) item.focus({ preventScroll: true });
    if (scroll !== false) item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var at = all.indexOf(current());
    var next = at === -1 ? all[0] : all[Math.min(all.length - 1, Math.max(0, at + step))];
    setCurrent(next);
  }

  // The next item still waiting after `from` (wrapping to the first one before it).
  function nextWaiting(from) {
    var all = items();
    var at = all.indexOf(from);
    var after = all.slice(at + 1).filter(waiting);
    var before = all.slice(0, Math.max(at, 0)).filter(waiting);
    return after[0] || before[0] || null;
  }

  function decideForm(item) { return item && item.querySelector("[data-decide]"); }

  function decide(item, decision) {
    var form = decideForm(item);
    if (!form) return;
    var button = form.querySelector('button[value="' + decision + '"]');
    if (button && !button.disabled) button.click();
  }

  function startComment(item, mode) {
    var form = decideForm(item);
    if (!form) return;
    form.dataset.mode = mode;
    var box = form.querySelector("[data-comment]");
    box.placeholder = mode === "reject"
      ? "Why reject it? Enter sends · Esc cancels"
      : "What should change? Enter sends · Esc cancels";
    showError(form, "");
    box.focus();
  }

  function stopComment(form) {
    delete form.dataset.mode;
    var box = form.querySelector("[data-comment]");
    box.placeholder = "Comment (needed for R / C)";
    box.blur();
    var item = form.closest(ITEM);
    if (item) setCurrent(item, false);
  }

  function showError(form, text) {
    var slot = form.querySelector("[data-decide-error]");
    if (slot) slot.textContent = text;
    form.classList.toggle("has-error", !!text);
  }

  function toggleSelect(item) {
    var box = item && item.querySelector("[data-select]");
    if (!box) return;
    box.checked = !box.checked;
    syncSelection();
  }

  function syncSelection() {
    var bar = document.querySelector("[data-bulk]");
    var chosen = document.querySelectorAll("[data-select]:checked");
    if (!bar) return;
    var count = chosen.length;
    bar.classList.toggle("has-selection", count > 0);
    bar.querySelector("[data-bulk-count]").textContent =
      count ? count + " selected" : "No item selected";
    bar.querySelector("[data-bulk-approve]").disabled = count === 0;
  }

  function approveSelected() {
    var bar = document.querySelector("[data-bulk]");
    var button = bar && bar.querySelector("[data-bulk-approve]");
    if (button && !button.disabled) button.click();
  }

  function zoom(item) {
    var source = item && item.querySelector("template[data-zoom]");
    var dialog = document.getElementById("review-zoom");
    if (!source || !dialog) return;
    var body = dialog.querySelector("[data-zoom-body]");
    body.replaceChildren(source.content.cloneNode(true));
    dialog.showModal();
  }

  function toggleDialog(id) {
    var dialog = document.getElementById(id);
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    if (!queue() || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    var zoomed = document.getElementById("review-zoom");
    var help = document.getElementById("review-keys");
    if (zoomed && zoomed.open) {
      if (event.key === "z" || event.key === "Z") { event.preventDefault(); zoomed.close(); }
      return; // Esc closes a dialog natively
    }
    if (help && help.open) {
      if (event.key === "?") { event.preventDefault(); help.close(); }
      return;
    }
    if (typing(event.target)) return;
    var item = current();
    var handled = true;
    switch (event.key) {
      case "j": case "J": move(1); break;
      case "k": case "K": move(-1); break;
      case "a": if (waiting(item)) decide(item, "approve"); break;
      case "A": approveSelected(); break;
      case "r": case "R": if (waiting(item)) startComment(item, "reject"); break;
      case "c": case "C": if (waiting(item)) startComment(item, "changes"); break;
      case "x": case "X": toggleSelect(item); break;
      case "z": case "Z": zoom(item); break;
      case "?": toggleDialog("review-keys"); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // In a decision's comment: Enter sends the chosen decision, Shift+Enter is a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target.closest && event.target.closest("[data-decide] [data-comment]");
    if (!box) return;
    var form = box.closest("[data-decide]");
    if (event.key === "Escape") {
      event.preventDefault();
      stopComment(form);
    } else if (event.key === "Enter" && !event.shiftKey && form.dataset.mode) {
      event.preventDefault();
      if (!box.value.trim()) {
        showError(form, form.dataset.mode === "reject"
          ? "Write why you reject it: the designer sees it."
          : "Write what should change: the designer sees it.");
        return;
      }
      decide(form.closest(ITEM), form.dataset.mode);
    }
  });

  // Typing a comment clears the "a comment is required" note.
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("[data-decide]");
    if (form && event.target.value.trim()) showError(form, "");
  });

  document.addEventListener("click", function (event) {
    var item = event.target.closest && event.target.closest(ITEM);
    if (item && queue()) setCurrent(item, false);
  });

  // On the queue, a success toast (floating, see review.css) goes away by itself.
  document.addEventListener("htmx:afterSettle", function () {
    if (!queue()) return;
    document.querySelectorAll("#messages .message--success:not([data-fading])").forEach(
      function (message) {
        message.dataset.fading = "1";
        setTimeout(function () { message.remove(); }, 5000);
      }
    );
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-select]")) syncSelection();
  });

  document.addEventListener("focusin", function (event) {
    var item = event.target.closest && event.target.closest(ITEM);
    if (item && item.id !== currentId) setCurrent(item, false);
  });

  // After a swap: a decided current item hands the focus to the next one waiting; one
  // that came back with an error keeps it, in its comment.
  document.addEventListener("htmx:afterSettle", function (event) {
    var swapped = event.target;
    if (!queue() || !swapped.matches || !swapped.matches(ITEM + ", [data-bulk], [data-review-queue]")) {
      return; // a card polling itself, the bell…: leave the focus alone
    }
    var item = current();
    if (!item) { setCurrent(items().filter(waiting)[0] || items()[0] || null); return; }
    var form = decideForm(item);
    if (form && form.classList.contains("has-error") && form.dataset.mode) {
      setCurrent(item, false);
      form.querySelector("[data-comment]").focus();
    } else if (!waiting(item)) {
      setCurrent(nextWaiting(item) || item);
    } else {
      setCurrent(item, false);
    }
    syncSelection();
  });

  function start() {
    if (!queue()) return;
    var first = items().filter(waiting)[0] || items()[0];
    if (first) setCurrent(first, false);
    syncSelection();
  }

  // --- pinning a comment on a generation page ---------------------------------------
  // A click on a pinnable image sets the comment form's image/x/y (fractions of the
  // image's width and height) and shows a pending marker; Unpin clears them.

  function pinForm() { return document.querySelector("[data-comment-form]"); }

  function showPending() {
    document.querySelectorAll(".pin--pending[data-pending]").forEach(function (pin) { pin.remove(); });
    var form = pinForm();
    if (!form) return;
    var image = form.elements.image.value, x = form.elements.x.value, y = form.elements.y.value;
    var board = image && document.querySelector('[data-pin-image="' + image + '"] .pinboard');
    var unpin = form.querySelector("[data-unpin]");
    var status = form.querySelector("[data-pin-text]");
    if (unpin) unpin.hidden = !board;
    if (!board) {
      if (status && !image) status.textContent = "Click the image to pin the comment to a spot.";
      return;
    }
    var pin = document.createElement("span");
    pin.className = "pin pin--pending";
    pin.dataset.pending = "1";
    pin.textContent = "+";
    pin.style.left = (parseFloat(x) * 100) + "%";
    pin.style.top = (parseFloat(y) * 100) + "%";
    board.appendChild(pin);
    if (status) status.textContent =
      "Pinned at " + Math.round(x * 100) + "% across, " + Math.round(y * 100) + "% down.";
  }

  document.addEventListener("click", function (event) {
    var frame = event.target.closest && event.target.closest("[data-pin-image]");
    var form = pinForm();
    if (!frame || !form || event.target.closest("a.pin")) return;
    var board = frame.querySelector(".pinboard");
    var box = board.getBoundingClientRect();
    var x = (event.clientX - box.left) / box.width;
    var y = (event.clientY - box.top) / box.height;
    if (x < 0 || x > 1 || y < 0 || y > 1) return; // outside the picture (its margins)
    form.elements.image.value = frame.dataset.pinImage;
    form.elements.x.value = x.toFixed(4);
    form.elements.y.value = y.toFixed(4);
    showPending();
    form.elements.body.focus();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-unpin]");
    var form = pinForm();
    if (!button || !form) return;
    ["image", "x", "y"].forEach(function (name) { form.elements[name].value = ""; });
    showPending();
  });

  document.addEventListener("htmx:afterSettle", showPending);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(); showPending(); });
  } else {
    start();
    showPending();
  }
})();
