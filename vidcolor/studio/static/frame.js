// vidcolor studio: the large frame (its pictures, the hints on it, before/after and zoom) and the strip of
// frames across the shot.
import { $, $$, S, api, said, say } from "./common.js";
import { editShot } from "./app.js";

const ZOOMS = [1, 1.5, 2, 3, 4];

export function showHints(hints) {
  const list = $("#hints");
  list.replaceChildren(...hints.map((hint, index) => {
    const item = document.createElement("li");
    item.classList.toggle("selected", index === S.selected);
    const colour = document.createElement("input");
    colour.type = "color";
    colour.value = hint.color;
    colour.addEventListener("change", () => setHintColour(index, colour.value));
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = `x ${hint.x.toFixed(3)}, y ${hint.y.toFixed(3)}`;
    where.addEventListener("click", () => selectHint(index));
    const remove = document.createElement("button");
    remove.textContent = "×";
    remove.title = "remove this hint";
    remove.addEventListener("click", () => removeHint(index));
    item.append(colour, where, remove);
    return item;
  }));
  drawMarkers();
}

export async function loadPreview() {
  // the shot's pictures, unless those of its present version are already asked for
  const number = S.shot;
  const shot = S.state.shots[number - 1];
  if (!shot || !S.state.scan.model_loaded || S.wanted === `${number}:${shot.version}`) return;
  S.wanted = `${number}:${shot.version}`;
  const seq = ++S.previewSeq;
  try {
    const preview = await api("GET", `/api/shots/${number}/preview?v=${shot.version}`);
    if (seq !== S.previewSeq) return;
    preview.version = shot.version;
    await Promise.all([setImage($("#after"), preview.frame), setImage($("#before"), preview.grey)]);
    if (seq !== S.previewSeq) return;
    S.preview = preview;
    fitStage();
    drawMarkers();
    drawStrip(preview);
    noteTiming();
  } catch (error) {
    if (seq === S.previewSeq) { say(error.message, true); S.wanted = null; }
  }
}

function setImage(image, source) {
  return new Promise((resolve) => {
    image.onload = () => resolve();
    image.onerror = () => resolve();
    image.src = source;
  });
}

function noteTiming() {
  if (S.editStarted === null) return;
  const ms = performance.now() - S.editStarted;
  S.editStarted = null;
  S.timings.push(ms);
  $("#timing").textContent = `coloured again in ${Math.round(ms)} ms`;
  document.body.dataset.recolourMs = ms.toFixed(1);
  document.body.dataset.recolours = String(S.timings.length);
}

function drawStrip(preview) {
  $("#strip").replaceChildren(...preview.strip.map((frame) => {
    const box = document.createElement("div");
    box.className = "strip-frame";
    const image = document.createElement("img");
    image.src = frame.image;
    image.alt = `frame ${frame.frame}`;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = frame.time.slice(3, 11);
    box.append(image, time);
    const hints = said(S.shot).hints || [];
    frame.hints.forEach((point, index) => {
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.style.left = `${point.x * 100}%`;
      dot.style.top = `${point.y * 100}%`;
      dot.style.background = (hints[index] || {}).color || "#fff";
      box.appendChild(dot);
    });
    return box;
  }));
}

// -- hints on the frame ---------------------------------------------------------------------------------

function framePoint(event) {
  const box = $("#after").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return { x: Number(clamp((event.clientX - box.left) / box.width).toFixed(4)),
           y: Number(clamp((event.clientY - box.top) / box.height).toFixed(4)) };
}

export function drawMarkers() {
  const layer = $("#markers");
  const hints = S.shot === null ? [] : (said(S.shot).hints || []);
  layer.replaceChildren(...hints.map((hint, index) => {
    const marker = document.createElement("div");
    marker.className = "marker" + (index === S.selected ? " selected" : "");
    marker.style.left = `${hint.x * 100}%`;
    marker.style.top = `${hint.y * 100}%`;
    marker.style.background = hint.color;
    marker.title = `hint ${index + 1}: ${hint.color}`;
    marker.addEventListener("pointerdown", (event) => dragHint(event, marker, index));
    return marker;
  }));
}

function dragHint(event, marker, index) {
  event.preventDefault();
  event.stopPropagation();
  marker.setPointerCapture(event.pointerId);
  let moved = null;
  const move = (e) => {
    moved = framePoint(e);
    marker.style.left = `${moved.x * 100}%`;
    marker.style.top = `${moved.y * 100}%`;
  };
  const up = () => {
    marker.removeEventListener("pointermove", move);
    marker.removeEventListener("pointerup", up);
    if (moved === null) { selectHint(index); return; }
    const hints = said(S.shot).hints.slice();
    hints[index] = { ...hints[index], ...moved };
    S.selected = index;
    editShot({ hints });
  };
  marker.addEventListener("pointermove", move);
  marker.addEventListener("pointerup", up);
}

export function placeHint(event) {
  if (S.shot === null || !S.state.scan.done || event.target.classList.contains("marker")) return;
  const table = said(S.shot);
  if (table.keep || table.grey) {
    say("this shot is kept or grey: choose colour (or automatic) to place hints", true);
    return;
  }
  const hints = (table.hints || []).concat([{ ...framePoint(event), color: $("#colour").value }]);
  S.selected = hints.length - 1;
  editShot({ hints });
}

function selectHint(index) {
  S.selected = index;
  showHints(said(S.shot).hints || []);
  const hint = (said(S.shot).hints || [])[index];
  if (hint) $("#colour").value = hint.color;
}

export function setHintColour(index, colour) {
  const hints = (said(S.shot).hints || []).slice();
  if (!hints[index]) return;
  hints[index] = { ...hints[index], color: colour };
  editShot({ hints });
}

export function removeHint(index) {
  const hints = (said(S.shot).hints || []).filter((_, k) => k !== index);
  S.selected = null;
  editShot({ hints: hints.length ? hints : null });
}

// -- view: before / after, zoom -------------------------------------------------------------------------

export function setView(view) {
  S.view = view;
  $$(".views button").forEach((button) => button.classList.toggle("on", button.dataset.view === view));
  $("#split").hidden = view !== "split";
  showView();
}

export function showView() {
  const before = $("#before");
  before.classList.toggle("hidden", S.view === "colour");
  before.style.clipPath = S.view === "split" ? `inset(0 ${100 - S.split}% 0 0)` : "none";
  const divider = $("#divider");
  divider.style.display = S.view === "split" ? "block" : "none";
  divider.style.left = `${S.split}%`;
}

export function fitStage() {
  const viewport = $("#viewport");
  const preview = S.preview;
  if (!preview) return;
  const aspect = preview.width / preview.height;
  const fit = Math.floor(Math.min(viewport.clientWidth - 8, (viewport.clientHeight - 8) * aspect));
  $("#stage").style.width = `${Math.max(100, fit) * ZOOMS[S.zoom]}px`;
  $("#zoom-level").textContent = `${Math.round(ZOOMS[S.zoom] * 100)}%`;
}

export function zoom(step) {
  S.zoom = Math.min(ZOOMS.length - 1, Math.max(0, S.zoom + step));
  fitStage();
}
