// Proof Studio — the review canvas without the mouse. Everything here enhances plain links
// and forms: without this file, Previous / Next, the decision buttons, the comment form and
// "Approve selected" still work by clicking.
// J/K move through the queue, A approves, R / C open the reason for reject / request
// changes (Enter sends, Esc stops), Shift+C writes a comment, X selects, Shift+A approves
// the selection, Z zooms, ? shows the keys.
(function () {
  "use strict";

  var selected = new Set(); // ids chosen with X, kept while J/K swap the canvas

  function canvas() { return document.querySelector("[data-review-canvas]"); }
  function decideForm() { return document.querySelector("[data-canvas-decide]"); }
  function commentForm() { return document.querySelector("[data-canvas-comment]"); }
  function bulk() { return document.querySelector("[data-canvas-bulk]"); }
  function waiting() { var c = canvas(); return c && c.dataset.waiting === "1"; }

  // A key can come faster than htmx settles a swap: make sure it has bound the new
  // link or form (idempotent), or the click would load a whole page instead.
  function bound(element) {
    if (element && window.htmx) window.htmx.process(element);
    return element;
  }

  function follow(selector) {
    var link = bound(document.querySelector(selector));
    if (link) link.click();
  }

  function decide(decision) {
    var form = bound(decideForm());
    if (!form) return;
    var button = form.querySelector('button[value="' + decision + '"]');
    if (!button) return;
    if (button.disabled) {
      // Say why instead of doing nothing.
      var why = form.querySelector("[data-canvas-blocked]");
      if (why) {
        why.classList.remove("is-flagged");
        void why.offsetWidth; // restart the animation
        why.classList.add("is-flagged");
      }
      return;
    }
    button.click();
  }

  // A box the person asked for (R, C, Shift+C) between a swap and its settle: the settle
  // must not take the focus back to the canvas from under their typing.
  var askedFor = null;

  function startReason(mode) {
    var form = decideForm();
    if (!form) return;
    form.dataset.mode = mode;
    var box = form.querySelector("[data-canvas-reason]");
    box.placeholder = mode === "reject"
      ? "Why reject it? Enter sends · Esc cancels"
      : "What should change? Enter sends · Esc cancels";
    showError(form, "");
    box.focus();
    askedFor = box;
  }

  function stopTyping(box) {
    var form = box.closest("[data-canvas-decide]");
    if (form) {
      delete form.dataset.mode;
      box.placeholder = "Why? Needed for R (reject) and C (changes)";
    }
    box.blur();
    var root = canvas();
    if (root) root.focus({ preventScroll: true });
  }

  function showError(form, text) {
    var slot = form.querySelector("[data-canvas-error]");
    if (slot) slot.textContent = text;
    form.classList.toggle("has-error", !!text);
  }

  function startComment() {
    var form = commentForm();
    var box = form && form.elements.body;
    if (box) box.focus();
    askedFor = box;
  }

  // --- the selection for "Approve selected" -------------------------------------------

  function currentId() { var c = canvas(); return c && c.dataset.pk; }

  function toggleSelect() {
    var pk = currentId();
    if (!pk || !waiting()) return;
    if (selected.has(pk)) selected.delete(pk); else selected.add(pk);
    syncSelection();
  }

  function syncSelection() {
    var bar = bulk();
    if (!bar) return;
    // What is posted: one hidden input per chosen id (the checkbox only shows it).
    bar.querySelectorAll("input[data-chosen]").forEach(function (input) { input.remove(); });
    selected.forEach(function (pk) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = pk;
      input.dataset.chosen = "1";
      bar.appendChild(input);
    });
    var box = document.querySelector("[data-canvas-select]");
    if (box) {
      box.removeAttribute("form"); // counted through the hidden inputs instead
      box.checked = selected.has(box.value);
    }
    document.querySelectorAll("[data-strip-pk]").forEach(function (item) {
      item.classList.toggle("is-selected", selected.has(item.dataset.stripPk));
    });
    var count = selected.size;
    bar.classList.toggle("has-selection", count > 0);
    bar.querySelector("[data-canvas-bulk-count]").textContent =
      count ? count + " selected" : "No item selected";
    bar.querySelector("[data-canvas-bulk-approve]").disabled = count === 0;
  }

  function approveSelected() {
    var bar = bulk();
    var button = bar && bar.querySelector("[data-canvas-bulk-approve]");
    if (button && !button.disabled) bar.requestSubmit(button);
  }

  document.addEventListener("submit", function (event) {
    if (!event.target.matches("[data-canvas-bulk]")) return;
    // Come back to the canvas as it is now (its filters), at the item after this one.
    var url = new URL(location.href);
    var at = url.searchParams.get("at");
    url.searchParams.delete("at");
    if (at) url.searchParams.set("after", at);
    event.target.querySelector("[data-canvas-bulk-next]").value = url.pathname + url.search;
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-canvas-select]")) return;
    if (box.checked) selected.add(box.value); else selected.delete(box.value);
    syncSelection();
  });

  // --- dialogs ------------------------------------------------------------------------

  function zoom() {
    var source = document.querySelector("template[data-canvas-zoom]");
    var dialog = document.getElementById("review-zoom");
    if (!source || !dialog) return;
    dialog.querySelector("[data-zoom-body]").replaceChildren(source.content.cloneNode(true));
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

  // --- keys ---------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (!canvas() || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
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
    var handled = true;
    switch (event.key) {
      case "j": case "J": follow("[data-canvas-next]"); break;
      case "k": case "K": follow("[data-canvas-previous]"); break;
      case "a": if (waiting()) decide("approve"); break;
      case "A": approveSelected(); break;
      case "r": case "R": if (waiting()) startReason("reject"); break;
      case "c": if (waiting()) startReason("changes"); break;
      case "C": startComment(); break;
      case "x": case "X": toggleSelect(); break;
      case "z": case "Z": zoom(); break;
      case "?": toggleDialog("review-keys"); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // In the reason box: Enter sends the chosen decision; in the comment box: Enter adds
  // the comment. Shift+Enter is a new line; Esc stops typing.
  document.addEventListener("keydown", function (event) {
    var box = event.target.closest && event.target.closest("[data-canvas-reason], [data-canvas-comment] textarea");
    if (!box) return;
    if (event.key === "Escape") {
      event.preventDefault();
      stopTyping(box);
      return;
    }
    if (event.key !== "Enter" || event.shiftKey) return;
    var reasonForm = box.closest("[data-canvas-decide]");
    if (reasonForm) {
      if (!reasonForm.dataset.mode) return; // no decision chosen yet: a plain new line
      event.preventDefault();
      if (!box.value.trim()) {
        showError(reasonForm, reasonForm.dataset.mode === "reject"
          ? "Write why you reject it: the designer sees it."
          : "Write what should change: the designer sees it.");
        return;
      }
      decide(reasonForm.dataset.mode);
      return;
    }
    event.preventDefault();
    if (box.value.trim()) bound(box.form).requestSubmit();
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("[data-canvas-decide]");
    if (form && event.target.value.trim()) showError(form, "");
  });

  // A success toast goes away by itself.
  function fadeToasts() {
    document.querySelectorAll("#messages .message--success:not([data-fading])").forEach(
      function (message) {
        message.dataset.fading = "1";
        setTimeout(function () { message.remove(); }, 5000);
      }
    );
  }

  // After the canvas is swapped (J/K, a decision, a comment, the filters): the keys go on
  // working from the new item; one that came back with an error keeps its reason box.
  // Right at the swap, since htmx has just put the focus back into the new reason box (it
  // restores focus by id) and a key pressed before the settle would be typed there; and
  // again at the settle, keeping a box the person asked for in between.
  function isCanvas(element) {
    return element && element.matches && element.matches("[data-review-canvas]");
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (!isCanvas(event.target)) return;
    askedFor = null;
    placeFocus(event.target);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!canvas()) return;
    fadeToasts();
    if (!isCanvas(event.target)) return;
    placeFocus(event.target);
    syncSelection();
  });

  function placeFocus(swapped) {
    var form = decideForm();
    var comment = commentForm();
    if (askedFor && document.contains(askedFor)) {
      askedFor.focus();
    } else if (form && form.classList.contains("has-error") && form.dataset.mode) {
      form.querySelector("[data-canvas-reason]").focus();
    } else if (comment && comment.classList.contains("has-error")) {
      comment.elements.body.focus();
    } else {
      swapped.focus({ preventScroll: true });
    }
  }

  function start() {
    var root = canvas();
    if (!root) return;
    fadeToasts();
    syncSelection();
    if (!typing(document.activeElement || document.body)) root.focus({ preventScroll: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
