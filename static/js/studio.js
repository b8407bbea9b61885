// Small behaviours htmx does not cover. Everything works without this file.
(function () {
  "use strict";

  // A page with actions (views/common.py page_with_actions) shown again by Back or Forward
  // from the back/forward cache is as it was left, maybe long ago: load it afresh, so a
  // decided item never shows a live Approve button.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.body && document.body.hasAttribute("data-revalidate")) {
      location.reload();
    }
  });

  // Dismiss a flash message.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) button.parentElement.remove();
  });

  // Grey out the aspect ratios, preview sizes and final models the chosen model does not
  // offer (its previews feed only the final models the catalogue pairs with it).
  function followModel(select) {
    var option = select.options[select.selectedIndex];
    if (!option || !select.form) return;
    [["aspect_ratio", option.dataset.aspectRatios], ["preview_size", option.dataset.previewSizes],
     ["final_model_key", option.dataset.finalModels]]
      .forEach(function (pair) {
        var target = select.form.elements[pair[0]];
        if (!target || pair[1] === undefined) return;
        var offered = pair[1].split(" ");
        Array.prototype.forEach.call(target.options, function (item) {
          item.disabled = offered.indexOf(item.value) === -1;
        });
        if (target.selectedOptions[0] && target.selectedOptions[0].disabled) {
          var first = Array.prototype.find.call(target.options, function (item) { return !item.disabled; });
          if (first) target.value = first.value;
        }
      });
  }
  function followModels(root) {
    root.querySelectorAll("select[name=model_key]").forEach(followModel);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name=model_key]")) followModel(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () { followModels(document); });
  document.addEventListener("htmx:load", function (event) { followModels(event.detail.elt); });

  // A poll or a form answered by the login page means the session ended: go and sign
  // in for real (and come back here) instead of swapping a login form into a card.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || !xhr.responseURL) return;
    var url = new URL(xhr.responseURL);
    if (url.pathname.indexOf("/accounts/login/") === 0) {
      event.detail.shouldSwap = false;
      url.search = "?next=" + encodeURIComponent(location.pathname + location.search);
      location.assign(url.toString());
    }
  });
})();
