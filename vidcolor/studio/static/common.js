// vidcolor studio: what the page's modules share: its state, and talking to the server.

export const $ = (selector) => document.querySelector(selector);
export const $$ = (selector) => Array.from(document.querySelectorAll(selector));
export const S = {
  state: null, shot: null, preview: null, selected: null, view: "colour", zoom: 0, split: 50,
  editStarted: null, previewSeq: 0, wanted: null, poll: null, images: [], timings: [],
};

// -- talking to the server ----------------------------------------------------------------------------

export async function api(method, path, body, contentType) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = contentType || "application/json";
    options.body = contentType ? body : JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `the studio answered ${response.status}` }));
  if (!response.ok) {
    const error = new Error(data.error || `the studio answered ${response.status}`);
    error.status = response.status;
    error.reason = data.reason;
    throw error;
  }
  return data;
}

export function say(text, isError) {
  const box = $("#message");
  box.textContent = text || "";
  box.classList.toggle("error", Boolean(isError));
}

export function ask(text, choices) {
  // choices: [[label, action]]; the dialog bar stays until one is chosen
  $("#dialog-text").textContent = text;
  const buttons = $("#dialog-buttons");
  buttons.replaceChildren(...choices.map(([label, action]) => {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", () => { $("#dialog").hidden = true; if (action) action(); });
    return button;
  }));
  $("#dialog").hidden = false;
}


export function said(number) {
  const direction = S.state.direction;
  return number === "film" ? { ...direction.film } : { ...(direction.shots[String(number)] || {}) };
}
