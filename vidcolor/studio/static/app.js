// vidcolor studio: the page. It asks the server (server.py) for the film's state and pictures and
// sends it edits of the direction; everything it shows comes from there. No framework, no build step.
import { $, $$, S, api, ask, said, say } from "./common.js";
import { fitStage, loadPreview, placeHint, removeHint, setHintColour, setView, showHints, showView, zoom } from "./frame.js";

async function refresh() {
  try {
    applyState(await api("GET", "/api/state"));
  } catch (error) {
    say(error.message, true);
  }
}

// -- the state ----------------------------------------------------------------------------------------


function applyState(state) {
  const first = S.state === null;
  S.state = state;
  $("#film-name").textContent = state.film.name;
  document.title = `${state.film.name} · vidcolor studio`;
  showScan(state);
  if (state.problem) say(state.problem, true);
  const ready = state.scan.done && !state.problem;
  const still = state.film.kind === "still";
  $("#save").disabled = !ready;
  $("#save").textContent = still ? "Save picture" : "Save";
  $("#render").hidden = still;
  $("#render").disabled = !ready || state.render.state === "running";
  $("#unsaved").hidden = !state.unsaved;
  $("#film-panel").hidden = still || !state.scan.done;
  showShots(state.shots);
  if (S.shot !== null) showShotPanel();
  showReference($("#film-panel .reference"), said("film"), "");
  showRender(state.render);
  clearTimeout(S.poll);
  if (!state.scan.done || state.render.state === "running") S.poll = setTimeout(refresh, 400);
  if (first) loadImages();
  if (S.shot === null && state.shots.length) selectShot(1);
  else if (S.shot !== null) loadPreview();
}

function showScan(state) {
  const scan = state.scan;
  $("#scan").hidden = scan.done;
  if (scan.done) return;
  const share = scan.total ? Math.min(1, scan.frames / scan.total) : 0;
  $("#scan-bar").style.width = `${(share * 100).toFixed(1)}%`;
  $("#scan-text").textContent = !scan.model_loaded ? "loading the model"
    : scan.frames < scan.total ? `finding shots: frame ${scan.frames} of ${scan.total}` : "getting the model ready";
}

function showShots(shots) {
  const strip = $("#shots");
  shots.forEach((shot) => {
    let card = strip.querySelector(`[data-number="${shot.number}"]`);
    if (!card) {
      card = document.createElement("button");
      card.className = "shot";
      card.dataset.number = shot.number;
      card.innerHTML = '<img alt=""><div class="caption"><b></b><span class="time"></span></div>' +
                       '<div class="caption"><span class="length"></span><span class="badge"></span></div>';
      card.addEventListener("click", () => selectShot(shot.number));
      strip.appendChild(card);
    }
    const image = card.querySelector("img");
    if (card.dataset.version !== shot.version && S.state.scan.model_loaded) {
      card.dataset.version = shot.version;
      image.src = `/api/shots/${shot.number}/thumb.jpg?v=${shot.version}`;
    }
    card.querySelector("b").textContent = shot.number;
    card.querySelector(".time").textContent = shot.start.slice(0, 11);
    card.querySelector(".length").textContent = `${shot.seconds.toFixed(1)} s, ${shot.frames} frames`;
    card.querySelector(".badge").textContent = badge(said(shot.number), shot.looks);
    card.classList.toggle("selected", shot.number === S.shot);
  });
}

function badge(table, looks) {
  if (table.grey) return "grey";
  if (table.keep) return "kept";
  if (table.keep === false) return "coloured";
  const hints = (table.hints || []).length;
  if (hints || table.reference) return `${hints ? hints + " hint" + (hints > 1 ? "s" : "") : ""}${table.reference ? " ref" : ""}`;
  return looks.startsWith("colour") ? "in colour" : "";
}

function modeOf(table) {
  if (table.grey) return "grey";
  if (table.keep === true) return "keep";
  if (table.keep === false) return "colour";
  return "auto";
}

// -- one shot -------------------------------------------------------------------------------------------

function selectShot(number) {
  S.shot = number;
  S.selected = null;
  $$(".shot").forEach((card) => card.classList.toggle("selected", Number(card.dataset.number) === number));
  $("#shot-panel").hidden = false;
  showShotPanel();
  loadPreview();
}

function showShotPanel() {
  const shot = S.state.shots[S.shot - 1];
  if (!shot) return;
  const still = S.state.film.kind === "still";
  $("#shot-heading").textContent = still ? "The picture" : `Shot ${shot.number}`;
  $("#shot-title").textContent = still ? S.state.film.name
    : `Shot ${shot.number} · ${shot.start} – ${shot.end} · ${shot.frames} frames · ${shot.looks}`;
  const table = said(S.shot);
  $(".modes").hidden = still;
  $$('input[name="mode"]').forEach((radio) => { radio.checked = radio.value === modeOf(table); });
  showHints(table.hints || []);
  showReference($("#shot-panel .reference"), table, still ? "(none)" : "(the film's)");
  const editable = S.state.scan.done && !S.state.problem;
  $$("#panel input, #panel select").forEach((input) => { input.disabled = !editable; });
}

// -- edits --------------------------------------------------------------------------------------------

async function edit(target, changes) {
  const table = { ...said(target), ...changes };
  Object.keys(table).forEach((key) => { if (table[key] === null) delete table[key]; });
  const path = target === "film" ? "/api/direction/film" : `/api/direction/shots/${target}`;
  S.editStarted = performance.now();
  try {
    say("");
    const wanted = S.wanted;
    applyState(await api("PUT", path, table));  // asks for the shot's new pictures
    if (S.wanted === wanted) S.editStarted = null;  // nothing that colours it changed
  } catch (error) {
    S.editStarted = null;
    say(error.message, true);
    refresh();
  }
}

export const editShot = (changes) => edit(S.shot, changes);

function setMode(mode) {
  const table = said(S.shot);
  const changes = { auto: { keep: null, grey: null }, colour: { keep: false, grey: null },
                    keep: { keep: true, grey: null }, grey: { grey: true, keep: null } }[mode];
  const dropped = (mode === "keep" || mode === "grey") && (table.hints || table.reference);
  if (dropped) Object.assign(changes, { hints: null, reference: null, strength: null });
  editShot(changes).then(() => {
    if (dropped) say(`a shot left ${mode === "keep" ? "as it is" : "grey"} takes no hints or reference: they were removed`);
  });
}

// -- reference photos and the eyedropper ----------------------------------------------------------------

async function loadImages() {
  try {
    S.images = (await api("GET", "/api/images")).images;
  } catch (error) {
    S.images = [];
  }
  if (S.state) {
    showReference($("#film-panel .reference"), said("film"), "");
    if (S.shot !== null) showShotPanel();
  }
}

function showReference(box, table, noneLabel) {
  const select = box.querySelector(".ref-choice");
  const options = [["", noneLabel || "(none)"], ...S.images.map((name) => [name, name])];
  if (table.reference && !S.images.includes(table.reference)) options.push([table.reference, table.reference]);
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  select.value = table.reference || "";
  const strength = box.querySelector(".ref-strength");
  strength.value = table.strength ?? 1;
  box.querySelector("output").textContent = Number(strength.value).toFixed(1);
  if (box.dataset.target === "shot" || S.shot === null) showEyedropper();
}

function referenceTarget(box) {
  return box.dataset.target === "film" ? "film" : S.shot;
}

async function upload(box, file) {
  say(`uploading ${file.name}…`);
  try {
    const query = `?name=${encodeURIComponent(file.name)}`;
    const answer = await api("POST", `/api/references${query}`, file, file.type || "application/octet-stream");
    S.images = answer.images;
    await edit(referenceTarget(box), { reference: answer.path });
  } catch (error) {
    say(error.message, true);
  }
}

function showEyedropper() {
  const reference = (S.shot !== null && said(S.shot).reference) || said("film").reference;
  $("#eyedropper").hidden = !reference;
  if (!reference || $("#reference-canvas").dataset.path === reference) return;
  const image = new Image();
  image.onload = () => {
    const canvas = $("#reference-canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.getContext("2d").drawImage(image, 0, 0);
    canvas.dataset.path = reference;
  };
  image.src = `/api/image?path=${encodeURIComponent(reference)}`;
}

function pickColour(event) {
  const canvas = $("#reference-canvas");
  const box = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - box.left) / box.width * canvas.width);
  const y = Math.floor((event.clientY - box.top) / box.height * canvas.height);
  const [r, g, b] = canvas.getContext("2d").getImageData(x, y, 1, 1).data;
  const colour = "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
  $("#colour").value = colour;
  if (S.selected !== null) setHintColour(S.selected, colour);
  else say(`colour ${colour} taken: new hints take it`);
}

// -- save and render ------------------------------------------------------------------------------------

async function save(choice) {
  try {
    const answer = await api("POST", "/api/save", choice || {});
    applyState(answer.state);
    say(`saved ${answer.saved}` + (answer.kept ? `; the text that was there is kept as ${answer.kept}` : ""));
  } catch (error) {
    if (error.reason === "conflict") {
      ask(error.message, [["Keep both", () => save({ keep_theirs: true })],
                          ["Load the file (drops the studio's changes)", reload], ["Cancel", null]]);
    } else if (error.reason === "exists") {
      ask(error.message, [["Replace it", () => save({ overwrite: true })], ["Cancel", null]]);
    } else {
      say(error.message, true);
    }
  }
}

async function reload() {
  try {
    applyState(await api("POST", "/api/reload"));
    say("the direction file was loaded again");
  } catch (error) {
    say(error.message, true);
  }
}

async function render(force) {
  try {
    const answer = await api("POST", "/api/render", { force: Boolean(force) });
    say(`saved ${answer.saved}; rendering`);
    refresh();
  } catch (error) {
    if (error.message.includes("already exists")) {
      ask(error.message, [["Replace it", () => render(true)], ["Cancel", null]]);
    } else if (error.reason === "conflict") {
      ask(error.message, [["Keep both", async () => { await save({ keep_theirs: true }); render(force); }],
                          ["Cancel", null]]);
    } else {
      say(error.message, true);
    }
  }
}

function showRender(status) {
  const panel = $("#render-panel");
  panel.hidden = status.state === "idle";
  if (panel.hidden) return;
  const share = status.total ? status.frames / status.total : 0;
  $("#render-bar").style.width = `${(share * 100).toFixed(1)}%`;
  $("#cancel").hidden = status.state !== "running";
  const text = {
    running: () => `${status.frames} of ${status.total} frames` + (status.fps ? ` · ${status.fps.toFixed(1)} fps` : "") +
                   (status.seconds_left !== null ? ` · ${clock(status.seconds_left)} left` : ""),
    done: () => `written: ${status.output}`,
    cancelled: () => "cancelled: Render goes on from the finished part",
    failed: () => status.error,
  }[status.state]();
  $("#render-text").textContent = text;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// -- wiring ---------------------------------------------------------------------------------------------

function wire() {
  $("#stage").addEventListener("click", placeHint);
  $$(".views button").forEach((button) => button.addEventListener("click", () => setView(button.dataset.view)));
  $("#split").addEventListener("input", (event) => { S.split = Number(event.target.value); showView(); });
  $("#zoom-in").addEventListener("click", () => zoom(1));
  $("#zoom-out").addEventListener("click", () => zoom(-1));
  $("#viewport").addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoom(event.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  $$('input[name="mode"]').forEach((radio) => radio.addEventListener("change", () => setMode(radio.value)));
  $$(".reference").forEach((box) => {
    box.appendChild($("#reference-controls").content.cloneNode(true));  // the film's and the shot's alike
    box.querySelector(".ref-choice").addEventListener("change", (event) =>
      edit(referenceTarget(box), { reference: event.target.value || null }));
    const strength = box.querySelector(".ref-strength");
    strength.addEventListener("input", () => { box.querySelector("output").textContent = Number(strength.value).toFixed(1); });
    strength.addEventListener("change", () => edit(referenceTarget(box), { strength: Number(strength.value) }));
    box.querySelector(".ref-upload").addEventListener("change", (event) => {
      if (event.target.files.length) upload(box, event.target.files[0]);
      event.target.value = "";
    });
  });
  $("#reference-canvas").addEventListener("click", pickColour);
  $("#save").addEventListener("click", () => save());
  $("#render").addEventListener("click", () => render(false));
  $("#cancel").addEventListener("click", async () => { await api("POST", "/api/render/cancel").catch(() => {}); refresh(); });
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (!typing && S.selected !== null && (event.key === "Delete" || event.key === "Backspace")) removeHint(S.selected);
  });
  new ResizeObserver(() => fitStage()).observe($("#viewport"));
  window.addEventListener("beforeunload", (event) => {
    if (S.state && S.state.unsaved) { event.preventDefault(); event.returnValue = ""; }
  });
  setView("colour");
  refresh();
}

wire();
