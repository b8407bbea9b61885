// Proof Studio — compare 2–4 images. Our own small ES module: no library, no build step.
//
// The view of an image is kept in IMAGE space, normalised: the centre (cx, cy) as a
// fraction of the image's width and height, and a zoom relative to "fit" (1 = the whole
// image fits its pane). Panes showing images of different pixel sizes — a 1024² preview
// and its 4096² final — therefore show the same region of the picture when they share
// one view. Each pane writes what it shows to its data attributes (data-x0/x1/y0/y1
// normalised, data-view-px in image pixels, data-scale in device pixels per image pixel,
// data-rendition), so tests and tools can read the state back from the DOM.
//
// Loading: each pane shows the thumbnail, then the screen rendition (≤ 2048 px); the
// full-resolution original is requested only once the zoom shows more device pixels
// per image pixel than the rendition has, and the pane says so while it loads.

const MAX_BEYOND_ONE_TO_ONE = 4; // zoom reaches 4× past 1:1 of the sharpest image
const STEP = Math.SQRT2; // + / - and the buttons
const WHEEL_RATE = 0.002; // zoom per wheel pixel (a mouse notch of 100 px ≈ ×1.22)
const PINCH_RATE = 0.01; // trackpad pinch arrives as ctrl+wheel, in small deltas
const PAN_FRACTION = 0.1; // arrows move a tenth of the visible region (shift: half)
const EPS = 1e-3;
const MODES = ["side", "slider", "flip"];
// Pressing these inside a pane (its label's link) does what they do, not pan or zoom.
const CONTROLS = "a, button, input, select, textarea, summary, [data-divider]";

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const decimals = (value, places = 6) => Number(value.toFixed(places)).toString();

export class View {
  constructor(cx = 0.5, cy = 0.5, zoom = 1) {
    this.cx = cx;
    this.cy = cy;
    this.zoom = zoom;
  }

  copy() {
    return new View(this.cx, this.cy, this.zoom);
  }
}

/** One image in its frame: geometry in image space, rendering, progressive loading. */
export class Pane {
  constructor(element, index, onLoaded) {
    this.el = element;
    this.index = index;
    this.width = Number(element.dataset.width);
    this.height = Number(element.dataset.height);
    this.screenWidth = Number(element.dataset.screenWidth) || this.width;
    this.originalUrl = element.dataset.srcOriginal;
    this.title = element.dataset.title || `Image ${index + 1}`;
    this.layer = element.querySelector("[data-layer]");
    this.screen = element.querySelector("[data-screen]");
    this.badge = element.querySelector("[data-res]");
    this.onLoaded = onLoaded;
    this.original = null;
    this.box = { w: 1, h: 1 };
    this.setState("screen");
    if (this.screen && !this.screen.complete) {
      this.screen.addEventListener("load", () => this.onLoaded(), { once: true });
    }
  }

  get shown() {
    return !this.el.hidden;
  }

  measure() {
    const rect = this.el.getBoundingClientRect();
    if (rect.width > 0 && rect.height > 0) this.box = { w: rect.width, h: rect.height };
  }

  /** CSS pixels per image pixel when the whole image fits the pane. */
  fit() {
    return Math.min(this.box.w / this.width, this.box.h / this.height);
  }

  scale(view) {
    return this.fit() * view.zoom;
  }

  /** The zoom at which one image pixel covers `cssPixels` CSS pixels. */
  zoomFor(cssPixels) {
    return cssPixels / this.fit();
  }

  maxZoom(dpr) {
    return Math.max(1, this.zoomFor(MAX_BEYOND_ONE_TO_ONE / dpr));
  }

  /** How much of the image (as a fraction of its width and height) the pane spans. */
  span(view) {
    const scale = this.scale(view);
    return { u: this.box.w / (scale * this.width), v: this.box.h / (scale * this.height) };
  }

  /** Keep the image in the pane: centred along an axis it does not fill. */
  clamp(view) {
    const { u, v } = this.span(view);
    view.cx = u >= 1 ? 0.5 : clamp(view.cx, u / 2, 1 - u / 2);
    view.cy = v >= 1 ? 0.5 : clamp(view.cy, v / 2, 1 - v / 2);
    return view;
  }

  /** The normalised image point under pane coordinates (x, y). */
  pointAt(view, x, y) {
    const scale = this.scale(view);
    return {
      u: view.cx + (x - this.box.w / 2) / (scale * this.width),
      v: view.cy + (y - this.box.h / 2) / (scale * this.height),
    };
  }

  /** The centre that puts image point (u, v) under pane coordinates (x, y). */
  centreFor(view, point, x, y) {
    const scale = this.scale(view);
    view.cx = point.u - (x - this.box.w / 2) / (scale * this.width);
    view.cy = point.v - (y - this.box.h / 2) / (scale * this.height);
    return view;
  }

  viewport(view) {
    const { u, v } = this.span(view);
    return { x0: view.cx - u / 2, y0: view.cy - v / 2, x1: view.cx + u / 2, y1: view.cy + v / 2 };
  }

  /** Rendition pixels per image pixel (1 when the rendition is the full size). */
  screenResolution() {
    const natural = this.screen && this.screen.naturalWidth;
    return (natural || this.screenWidth) / this.width;
  }

  render(view, dpr) {
    const scale = this.scale(view);
    const width = this.width * scale;
    const height = this.height * scale;
    const left = this.box.w / 2 - view.cx * width;
    const top = this.box.h / 2 - view.cy * height;
    this.layer.style.width = `${width}px`;
    this.layer.style.height = `${height}px`;
    this.layer.style.transform = `translate(${left}px, ${top}px)`;

    const port = this.viewport(view);
    const data = this.el.dataset;
    data.x0 = decimals(port.x0);
    data.y0 = decimals(port.y0);
    data.x1 = decimals(port.x1);
    data.y1 = decimals(port.y1);
    data.viewPx = [port.x0 * this.width, port.y0 * this.height, port.x1 * this.width,
      port.y1 * this.height].map((n) => decimals(n, 2)).join(",");
    const device = scale * dpr; // device pixels per image pixel: 1 is 1:1
    data.scale = decimals(device, 5);
    data.zoom = decimals(view.zoom, 5);

    // Past the rendition's resolution only the original can show more.
    if (device > this.screenResolution() * (1 + EPS)) this.loadOriginal();
    const source = this.state === "original" ? 1 : this.screenResolution();
    this.el.classList.toggle("is-pixelated", device / source >= 2 - EPS);
  }

  loadOriginal() {
    if (this.original || !this.originalUrl) return;
    const image = new Image();
    image.className = "cmp-img cmp-img--original";
    image.alt = "";
    image.draggable = false;
    image.decoding = "async";
    this.original = image;
    this.setState("loading");
    image.addEventListener("load", async () => {
      try {
        await image.decode(); // swap it in only once it can paint at once
      } catch {
        // decode() may reject for huge images that still display; show it anyway
      }
      this.layer.append(image);
      this.setState("original");
      this.onLoaded();
    });
    image.addEventListener("error", () => this.setState("error"));
    image.src = this.originalUrl;
  }

  setState(state) {
    this.state = state;
    this.el.dataset.rendition = state;
    if (!this.badge) return;
    const edge = Math.max(this.width, this.height);
    const screenEdge = Math.round(this.screenResolution() * edge);
    const text = {
      screen: `Screen rendition · ${screenEdge} px`,
      loading: `Loading the original · ${edge} px…`,
      original: `Original · ${edge} px`,
      error: "The original did not load",
    }[state];
    this.badge.textContent = text;
    this.badge.title = state === "screen"
      ? "The full-resolution original loads when you zoom past this rendition."
      : "";
  }
}

/** The whole compare: modes, the shared (or per-pane) view, input and the URL. */
export class Compare {
  constructor(root) {
    this.root = root;
    this.stage = root.querySelector("[data-stage]");
    this.divider = root.querySelector("[data-divider]");
    this.readout = root.querySelector("[data-zoom-readout]");
    this.syncBox = root.querySelector("[data-sync-toggle]");
    this.panes = [...root.querySelectorAll("[data-pane]")].map(
      (element, index) => new Pane(element, index, () => this.schedule()),
    );
    this.views = this.panes.map(() => new View());
    this.mode = "side";
    this.sync = true;
    this.focus = 0;
    this.flip = 0;
    this.pair = [0, Math.min(1, this.panes.length - 1)];
    this.split = 0.5;
    this.pointers = new Map();
    this.frame = 0;
    this.hashTimer = 0;

    this.readHash();
    this.bind();
    this.applyMode();
    root.classList.add("is-ready");
    this.renderNow();
    root.dataset.ready = "true";
  }

  get dpr() {
    return window.devicePixelRatio || 1;
  }

  /** Whether one view drives every pane (always, except unsynced side by side). */
  get linked() {
    return this.sync || this.mode !== "side";
  }

  shownPanes() {
    return this.panes.filter((pane) => pane.shown);
  }

  measure() {
    for (const pane of this.shownPanes()) pane.measure();
  }

  maxZoom(index) {
    const panes = this.linked ? this.shownPanes() : [this.panes[index]];
    return Math.max(...panes.map((pane) => pane.maxZoom(this.dpr)));
  }

  // --- changing the view ---------------------------------------------------------------

  /** Change the view of pane `index` (of every pane when linked), then clamp and draw. */
  update(index, change) {
    this.measure();
    const pane = this.panes[index];
    const view = this.views[index].copy();
    change(view, pane);
    view.zoom = clamp(view.zoom, 1, this.maxZoom(index));
    pane.clamp(view);
    if (this.linked) this.views = this.panes.map(() => view.copy());
    else this.views[index] = view;
    this.schedule();
  }

  /** Zoom by `factor`, keeping the image point under pane coordinates (x, y) in place. */
  zoomAt(index, x, y, factor) {
    this.update(index, (view, pane) => {
      const point = pane.pointAt(view, x, y);
      view.zoom = clamp(view.zoom * factor, 1, this.maxZoom(index));
      pane.centreFor(view, point, x, y);
    });
  }

  zoomCentre(index, factor) {
    this.measure();
    const pane = this.panes[index];
    this.zoomAt(index, pane.box.w / 2, pane.box.h / 2, factor);
  }

  panBy(index, dx, dy) {
    this.update(index, (view, pane) => {
      const scale = pane.scale(view);
      view.cx -= dx / (scale * pane.width);
      view.cy -= dy / (scale * pane.height);
    });
  }

  fit(index) {
    this.update(index, (view) => {
      view.zoom = 1;
      view.cx = 0.5;
      view.cy = 0.5;
    });
  }

  /** One image pixel to one device pixel in pane `index`, at (x, y) or the centre. */
  oneToOne(index, x, y) {
    this.measure();
    const pane = this.panes[index];
    const target = pane.zoomFor(1 / this.dpr);
    const at = x === undefined ? [pane.box.w / 2, pane.box.h / 2] : [x, y];
    this.zoomAt(index, at[0], at[1], target / this.views[index].zoom);
  }

  /** Double-click: fit ↔ 1:1 at the point. */
  toggleZoom(index, x, y) {
    this.measure();
    if (this.views[index].zoom > 1 + EPS) {
      this.fit(index);
      return;
    }
    let target = this.panes[index].zoomFor(1 / this.dpr);
    if (target <= 1 + EPS) {
      // This image already fits at 1:1 or more: go to 1:1 of the sharpest one instead.
      target = Math.max(...this.shownPanes().map((pane) => pane.zoomFor(1 / this.dpr)));
    }
    if (target <= 1 + EPS) target = 2;
    this.zoomAt(index, x, y, target / this.views[index].zoom);
  }

  panStep(index, sx, sy, fraction) {
    this.update(index, (view, pane) => {
      const span = pane.span(view);
      view.cx += sx * fraction * Math.min(1, span.u);
      view.cy += sy * fraction * Math.min(1, span.v);
    });
  }

  setSync(on) {
    this.sync = on;
    if (on) {
      const view = this.views[this.focus].copy();
      this.views = this.panes.map(() => view.copy());
      this.update(this.focus, () => {});
    }
    this.schedule();
  }

  setFocus(index) {
    if (index < 0 || index >= this.panes.length) return;
    this.focus = index;
    if (this.mode === "flip") this.flip = index;
    if (this.mode === "slider" && !this.pair.includes(index)) {
      this.pair = [this.pair[0] === index ? this.pair[1] : this.pair[0], index];
      if (this.pair[0] === this.pair[1]) this.pair[0] = (index + 1) % this.panes.length;
      this.applyMode();
    }
    this.schedule();
  }

  // --- modes ---------------------------------------------------------------------------

  setMode(mode) {
    if (!MODES.includes(mode)) return;
    if (mode === "slider" && this.panes.length < 2) return;
    if (mode === "flip" && this.mode === "flip") {
      this.cycle(1);
      return;
    }
    const view = this.views[this.focus].copy();
    this.mode = mode;
    if (mode === "flip") this.flip = this.focus;
    if (this.linked) this.views = this.panes.map(() => view.copy());
    this.applyMode();
    this.update(this.focus, () => {}); // the panes changed size: clamp again
  }

  cycle(step) {
    const count = this.panes.length;
    this.flip = (this.flip + step + count) % count;
    this.focus = this.flip;
    this.schedule();
  }

  setPair(side, index) {
    const pair = [...this.pair];
    pair[side] = index;
    if (pair[0] === pair[1]) pair[1 - side] = this.pair[side];
    this.pair = pair;
    this.applyMode();
    this.update(this.focus, () => {});
  }

  /** The DOM side of a mode change: which panes show, and how they stack. */
  applyMode() {
    // The focused pane is one that shows: the zoom readout and the keys act on it.
    if (this.mode === "slider" && !this.pair.includes(this.focus)) this.focus = this.pair[1];
    this.stage.dataset.mode = this.mode;
    this.root.dataset.mode = this.mode;
    this.panes.forEach((pane, index) => {
      pane.el.hidden = this.mode === "slider" && !this.pair.includes(index);
      const top = this.mode === "slider" && index === this.pair[1];
      pane.el.classList.toggle("is-slider-top", top);
      if (!top) pane.el.style.clipPath = "";
    });
    if (this.divider) this.divider.hidden = this.mode !== "slider";
    for (const button of this.root.querySelectorAll("[data-mode-button]")) {
      button.setAttribute("aria-pressed", String(button.dataset.modeButton === this.mode));
    }
    for (const select of this.root.querySelectorAll("[data-pair]")) {
      select.value = String(this.pair[Number(select.dataset.pair)]);
    }
  }

  // --- drawing -------------------------------------------------------------------------

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.renderNow());
  }

  renderNow() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.measure();
    const dpr = this.dpr;
    this.panes.forEach((pane, index) => {
      if (pane.shown) pane.render(this.views[index], dpr);
      pane.el.classList.toggle("is-focused", index === this.focus);
      pane.el.classList.toggle("is-current", this.mode !== "flip" || index === this.flip);
    });
    if (this.mode === "slider") {
      const top = this.panes[this.pair[1]];
      top.el.style.clipPath = `inset(0 0 0 ${decimals(this.split * 100, 3)}%)`;
      this.divider.style.left = `${decimals(this.split * 100, 3)}%`;
      this.divider.setAttribute("aria-valuenow", String(Math.round(this.split * 100)));
      this.setText("[data-slider-label='0']", this.panes[this.pair[0]].title);
      this.setText("[data-slider-label='1']", this.panes[this.pair[1]].title);
    }
    if (this.mode === "flip") {
      const pane = this.panes[this.flip];
      this.setText("[data-flip-label]", `${this.flip + 1} / ${this.panes.length} · ${pane.title}`);
    }
    const data = this.root.dataset;
    data.sync = String(this.sync);
    data.focus = String(this.focus + 1);
    data.split = decimals(this.split, 4);
    data.flip = String(this.flip + 1);
    if (this.syncBox) this.syncBox.checked = this.sync;
    this.renderReadout();
    this.writeHashSoon();
  }

  setText(selector, text) {
    const element = this.root.querySelector(selector);
    if (element && element.textContent !== text) element.textContent = text;
  }

  renderReadout() {
    if (!this.readout) return;
    const pane = this.panes[this.focus];
    const view = this.views[this.focus];
    const percent = Math.round(pane.scale(view) * this.dpr * 100);
    const fit = view.zoom <= 1 + EPS ? "Fit · " : "";
    this.readout.textContent = `${fit}${percent}%`;
    this.readout.title = `${pane.title}: ${percent}% (100% = one image pixel per screen pixel)`;
  }

  // --- the URL fragment: the view survives reloads, shared links and form posts -------

  readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const number = (key, fallback) => {
      const value = Number(params.get(key));
      return params.has(key) && Number.isFinite(value) ? value : fallback;
    };
    if (MODES.includes(params.get("mode"))) this.mode = params.get("mode");
    this.sync = params.get("sync") !== "0";
    const last = this.panes.length - 1;
    this.focus = clamp(Math.round(number("focus", 1)) - 1, 0, last);
    this.flip = this.mode === "flip" ? this.focus : 0;
    this.split = clamp(number("split", 0.5), 0, 1);
    const pair = (params.get("pair") || "").split(",").map((n) => Number(n) - 1);
    if (pair.length === 2 && pair.every((n) => n >= 0 && n <= last) && pair[0] !== pair[1]) {
      this.pair = pair;
    }
    const view = new View(number("cx", 0.5), number("cy", 0.5), Math.max(1, number("z", 1)));
    this.views = this.panes.map(() => view.copy());
    this.restoring = params.has("z");
  }

  writeHashSoon() {
    clearTimeout(this.hashTimer);
    this.hashTimer = setTimeout(() => this.writeHash(), 250);
  }

  writeHash() {
    const view = this.views[this.focus];
    const params = new URLSearchParams({ mode: this.mode, focus: String(this.focus + 1) });
    if (view.zoom > 1 + EPS) {
      params.set("z", decimals(view.zoom, 4));
      params.set("cx", decimals(view.cx, 5));
      params.set("cy", decimals(view.cy, 5));
    }
    if (!this.sync) params.set("sync", "0");
    if (this.mode === "slider") {
      params.set("split", decimals(this.split, 3));
      params.set("pair", this.pair.map((n) => n + 1).join(","));
    }
    const hash = `#${params}`;
    if (hash !== location.hash) history.replaceState(history.state, "", hash);
  }

  // --- input ---------------------------------------------------------------------------

  bind() {
    const stage = this.stage;
    stage.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    stage.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    stage.addEventListener("pointermove", (event) => this.onPointerMove(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      stage.addEventListener(type, (event) => this.onPointerUp(event));
    }
    stage.addEventListener("dblclick", (event) => {
      const hit = this.paneAt(event);
      if (!hit) return;
      event.preventDefault();
      this.setFocus(hit.index);
      this.toggleZoom(hit.index, hit.x, hit.y);
    });
    if (this.divider) this.bindDivider();

    document.addEventListener("keydown", (event) => this.onKey(event));
    this.root.addEventListener("click", (event) => this.onClick(event));
    this.root.addEventListener("change", (event) => {
      if (event.target.matches("[data-sync-toggle]")) this.setSync(event.target.checked);
      if (event.target.matches("[data-pair]")) {
        this.setPair(Number(event.target.dataset.pair), Number(event.target.value));
      }
    });
    // Forms posted from here come back to this very view (mode, zoom, position).
    this.root.addEventListener("submit", (event) => {
      this.writeHash();
      for (const input of event.target.querySelectorAll("[data-next]")) {
        input.value = location.pathname + location.search + location.hash;
      }
    }, true);
    new ResizeObserver(() => {
      this.measure();
      this.update(this.focus, () => {});
    }).observe(stage);
    if (this.restoring) requestAnimationFrame(() => this.update(this.focus, () => {}));
  }

  /** The pane under a pointer event, with the event's position in its coordinates.
   * Found by position, not by target: while a drag holds the pointer capture, clicks
   * and double-clicks are aimed at the stage. */
  paneAt(event, { overControls = false } = {}) {
    const controls = overControls ? "[data-divider]" : CONTROLS;
    if (event.target.closest(controls)) return null;
    const candidates = this.panes.filter((pane) => pane.shown
      && (this.mode !== "flip" || pane.index === this.flip));
    for (const pane of candidates) {
      const rect = pane.el.getBoundingClientRect();
      const x = event.clientX - rect.left;
      const y = event.clientY - rect.top;
      if (x >= 0 && y >= 0 && x <= rect.width && y <= rect.height) {
        return { index: pane.index, x, y };
      }
    }
    return null;
  }

  onWheel(event) {
    const hit = this.paneAt(event, { overControls: true }); // the wheel zooms over labels too
    if (!hit) return;
    event.preventDefault();
    if (hit.index !== this.focus) this.setFocus(hit.index); // the pane you work in leads
    const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
    const rate = event.ctrlKey ? PINCH_RATE : WHEEL_RATE;
    if (event.deltaY) this.zoomAt(hit.index, hit.x, hit.y, Math.exp(-event.deltaY * unit * rate));
    // A trackpad's sideways swipe pans; shift+wheel pans sideways with a mouse.
    const sideways = event.shiftKey && !event.deltaX ? 0 : event.deltaX;
    if (sideways) this.panBy(hit.index, -sideways * unit, 0);
  }

  onPointerDown(event) {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    const hit = this.paneAt(event);
    if (!hit) return;
    event.preventDefault(); // no text selection or native image drag
    this.panes[hit.index].el.focus({ preventScroll: true });
    if (this.mode !== "flip") this.setFocus(hit.index);
    this.stage.setPointerCapture(event.pointerId);
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    this.gesture = { index: hit.index };
    this.stage.classList.add("is-dragging");
  }

  onPointerMove(event) {
    const previous = this.pointers.get(event.pointerId);
    if (!previous || !this.gesture) return;
    const before = [...this.pointers.values()];
    this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    const index = this.gesture.index;
    if (this.pointers.size === 1) {
      this.panBy(index, event.clientX - previous.x, event.clientY - previous.y);
      return;
    }
    // Two fingers: zoom by the change of their distance about their midpoint, and pan
    // by the midpoint's movement.
    const after = [...this.pointers.values()];
    const [a0, b0] = before;
    const [a1, b1] = after;
    const distance0 = Math.hypot(a0.x - b0.x, a0.y - b0.y);
    const distance1 = Math.hypot(a1.x - b1.x, a1.y - b1.y);
    const rect = this.panes[index].el.getBoundingClientRect();
    const mid0 = { x: (a0.x + b0.x) / 2 - rect.left, y: (a0.y + b0.y) / 2 - rect.top };
    const mid1 = { x: (a1.x + b1.x) / 2 - rect.left, y: (a1.y + b1.y) / 2 - rect.top };
    if (distance0 > 0) this.zoomAt(index, mid0.x, mid0.y, distance1 / distance0);
    this.panBy(index, mid1.x - mid0.x, mid1.y - mid0.y);
  }

  onPointerUp(event) {
    this.pointers.delete(event.pointerId);
    if (this.pointers.size === 0) {
      this.gesture = null;
      this.stage.classList.remove("is-dragging");
    }
  }

  bindDivider() {
    const divider = this.divider;
    const follow = (event) => {
      const rect = this.stage.getBoundingClientRect();
      this.split = clamp((event.clientX - rect.left) / rect.width, 0, 1);
      this.schedule();
    };
    divider.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      event.stopPropagation();
      divider.setPointerCapture(event.pointerId);
      divider.classList.add("is-dragging");
      follow(event);
    });
    divider.addEventListener("pointermove", (event) => {
      if (divider.hasPointerCapture(event.pointerId)) follow(event);
    });
    const release = () => divider.classList.remove("is-dragging");
    divider.addEventListener("pointerup", release);
    divider.addEventListener("pointercancel", release);
    divider.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 0.1 : 0.02;
      const moves = {
        ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step,
        Home: -1, End: 1,
      };
      if (!(event.key in moves)) return;
      event.preventDefault();
      event.stopPropagation();
      this.split = clamp(this.split + moves[event.key], 0, 1);
      this.schedule();
    });
  }

  onClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    const data = button.dataset;
    if (data.modeButton) this.setMode(data.modeButton);
    else if ("zoomIn" in data) this.zoomCentre(this.focus, STEP);
    else if ("zoomOut" in data) this.zoomCentre(this.focus, 1 / STEP);
    else if ("fit" in data) this.fit(this.focus);
    else if ("oneToOne" in data) this.oneToOne(this.focus);
    else if ("flipNext" in data) this.cycle(1);
  }

  onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const onControl = target.closest && target.closest("button, a, summary");
    const key = event.key;
    const focus = this.focus;
    const pan = event.shiftKey ? 0.5 : PAN_FRACTION;
    if (/^[1-4]$/.test(key) && Number(key) <= this.panes.length) this.setFocus(Number(key) - 1);
    else if (key === "f" || key === "F") this.fit(focus);
    else if (key === "0" || (key === " " && !onControl)) this.oneToOne(focus);
    else if (key === "s" || key === "S") this.setMode("side");
    else if (key === "l" || key === "L") this.setMode("slider");
    else if (key === "t" || key === "T") {
      if (this.mode === "flip") this.cycle(event.shiftKey ? -1 : 1);
      else this.setMode("flip");
    } else if (key === "+" || key === "=") this.zoomCentre(focus, STEP);
    else if (key === "-" || key === "_") this.zoomCentre(focus, 1 / STEP);
    else if (key === "ArrowLeft") this.panStep(focus, -1, 0, pan);
    else if (key === "ArrowRight") this.panStep(focus, 1, 0, pan);
    else if (key === "ArrowUp") this.panStep(focus, 0, -1, pan);
    else if (key === "ArrowDown") this.panStep(focus, 0, 1, pan);
    else return;
    event.preventDefault();
  }
}

for (const root of document.querySelectorAll("[data-compare]")) {
  root.compare = new Compare(root);
}
