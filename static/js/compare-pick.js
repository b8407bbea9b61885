// Proof Studio — pick 2–4 images to compare, on any page that shows them.
//
// Every card (and image on a generation page) with an image carries a "compare"
// checkbox (templates/generations/_compare_pick.html). The picks live in this tab's
// sessionStorage, so they survive navigation, htmx swaps of polling cards and moving
// between the studio, review and gallery pages; a floating bar shows them and opens
// /compare/?images=… once there are two.

const KEY = "proof-studio.compare";
const MAX = 4;
const MIN = 2;
const PICK = "input[data-compare-pick]";

function load() {
  try {
    const picks = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(picks) ? picks.filter((p) => p && /^\d+$/.test(String(p.id))) : [];
  } catch {
    return [];
  }
}

function save(picks) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(picks));
  } catch {
    // storage full or disabled: the picks last until the page changes
  }
}

let picks = load();
let compareUrl = "/compare/";

function url() {
  return `${compareUrl}?images=${picks.map((p) => p.id).join(",")}`;
}

function syncBoxes(root = document) {
  const chosen = new Set(picks.map((p) => String(p.id)));
  for (const box of root.querySelectorAll(PICK)) {
    box.checked = chosen.has(box.value);
    box.disabled = !box.checked && picks.length >= MAX;
    const label = box.closest(".compare-pick");
    if (label) {
      label.classList.toggle("is-picked", box.checked);
      label.title = box.disabled ? `Compare takes at most ${MAX} images` : "Add to compare";
    }
    if (box.dataset.compareUrl) compareUrl = box.dataset.compareUrl;
  }
}

function bar() {
  let element = document.getElementById("compare-tray");
  if (element) return element;
  element = document.createElement("div");
  element.id = "compare-tray";
  element.className = "compare-tray";
  element.setAttribute("role", "region");
  element.setAttribute("aria-label", "Images picked for compare");
  element.innerHTML = `
    <ul class="compare-tray__picks" data-tray-picks></ul>
    <span class="compare-tray__hint" data-tray-hint></span>
    <button type="button" class="btn btn--ghost btn--small" data-tray-clear>Clear</button>
    <a class="btn btn--primary" data-tray-open>Compare</a>`;
  document.body.append(element);
  return element;
}

function renderBar() {
  const onComparePage = document.querySelector("[data-compare]");
  if (!picks.length || onComparePage) {
    document.getElementById("compare-tray")?.remove();
    return;
  }
  const element = bar();
  const list = element.querySelector("[data-tray-picks]");
  list.replaceChildren(
    ...picks.map((pick) => {
      const item = document.createElement("li");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "compare-tray__pick";
      remove.dataset.trayRemove = pick.id;
      remove.title = `${pick.label || `Image ${pick.id}`} — remove from compare`;
      if (pick.thumb) {
        const image = document.createElement("img");
        image.src = pick.thumb;
        image.alt = pick.label || `Image ${pick.id}`;
        remove.append(image);
      } else {
        remove.textContent = pick.label || `#${pick.id}`;
      }
      item.append(remove);
      return item;
    }),
  );
  const open = element.querySelector("[data-tray-open]");
  const ready = picks.length >= MIN;
  open.textContent = `Compare (${picks.length})`;
  if (ready) {
    open.href = url();
    open.removeAttribute("aria-disabled");
  } else {
    open.removeAttribute("href");
    open.setAttribute("aria-disabled", "true");
  }
  element.querySelector("[data-tray-hint]").textContent = ready
    ? picks.length >= MAX ? `That is the most (${MAX}).` : ""
    : "Pick one more image.";
}

function refresh(root = document) {
  syncBoxes(root);
  renderBar();
}

function toggle(box) {
  const id = box.value;
  picks = picks.filter((p) => String(p.id) !== id);
  if (box.checked && picks.length < MAX) {
    picks.push({ id, thumb: box.dataset.thumb || "", label: box.dataset.label || "" });
  }
  save(picks);
  refresh();
}

document.documentElement.classList.add("has-compare-pick");

document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches(PICK)) toggle(event.target);
});

document.addEventListener("click", (event) => {
  const target = event.target.closest?.("[data-tray-remove], [data-tray-clear]");
  if (!target) return;
  if (target.matches("[data-tray-clear]")) picks = [];
  else picks = picks.filter((p) => String(p.id) !== target.dataset.trayRemove);
  save(picks);
  refresh();
});

// Another tab, or the back/forward cache restoring this page: read the picks again.
window.addEventListener("pageshow", () => {
  picks = load();
  refresh();
});
document.addEventListener("htmx:load", (event) => syncBoxes(event.detail.elt));
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => refresh());
} else {
  refresh();
}
