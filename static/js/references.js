// Reference images on the submit form: drop, paste or choose pictures and they are
// uploaded at once (POST to the fieldset's data-upload-url), shown as ticked chips.
// Without this script the file input is sent with the form and the server does the same.
// Delegated from the document: htmx swaps the whole form after a submit.
(() => {
  "use strict";

  const csrfToken = () => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  };

  const fieldsetOf = (node) => node && node.closest && node.closest("[data-references]");

  async function upload(fieldset, files) {
    const pictures = Array.from(files || []).filter((file) => file && file.size !== undefined);
    const error = fieldset.querySelector("[data-refs-error]");
    if (!pictures.length) return;
    const body = new FormData();
    pictures.forEach((file, index) => body.append("reference_files", file, file.name || `pasted-${index + 1}.png`));
    fieldset.classList.add("is-uploading");
    error.textContent = "";
    try {
      const response = await fetch(fieldset.dataset.uploadUrl, {
        method: "POST",
        body,
        headers: { "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
      });
      const text = await response.text();
      if (!response.ok) {
        error.textContent = text || `The upload failed (${response.status}).`;
        return;
      }
      const chips = fieldset.querySelector("[data-chips]");
      const holder = document.createElement("div");
      holder.innerHTML = text;
      holder.querySelectorAll("[data-chip]").forEach((chip) => {
        if (!chips.querySelector(`[data-chip="${chip.dataset.chip}"]`)) chips.appendChild(chip);
      });
      const input = fieldset.querySelector("[data-file-input]");
      if (input) input.value = ""; // uploaded: not sent again with the form
      fieldset.dispatchEvent(new Event("references-changed", { bubbles: true }));
    } catch (failure) {
      error.textContent = "The upload failed: check the connection and try again.";
    } finally {
      fieldset.classList.remove("is-uploading");
    }
  }

  document.addEventListener("change", (event) => {
    const fieldset = fieldsetOf(event.target);
    if (fieldset && event.target.matches("[data-file-input]")) upload(fieldset, event.target.files);
  });

  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => {
      const zone = event.target.closest && event.target.closest("[data-drop]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("is-over");
    });
  }
  document.addEventListener("dragleave", (event) => {
    const zone = event.target.closest && event.target.closest("[data-drop]");
    if (zone) zone.classList.remove("is-over");
  });
  document.addEventListener("drop", (event) => {
    const zone = event.target.closest && event.target.closest("[data-drop]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("is-over");
    upload(fieldsetOf(zone), event.dataTransfer && event.dataTransfer.files);
  });

  // Paste anywhere in the submit form (a screenshot, a copied picture).
  document.addEventListener("paste", (event) => {
    const form = event.target.closest && event.target.closest("form");
    const fieldset = form && form.querySelector("[data-references]");
    if (!fieldset || !event.clipboardData) return;
    const files = Array.from(event.clipboardData.files || []).filter((file) => file.type.startsWith("image/"));
    if (!files.length) return; // text pastes into the prompt as usual
    event.preventDefault();
    upload(fieldset, files);
  });
})();
