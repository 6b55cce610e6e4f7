// Operator page of the Vector gateway: everything it shows comes from the gateway's
// dictionary (/api/dictionary), status (/api/status) and live events (/api/stream).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { dict: null, hkMeta: {}, commands: {}, history: new Map(), lastHk: null,
                waiting: null };

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmt(v) {
  if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(3);
  if (v === null || v === undefined) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function iso(t) { return t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 23) : ""; }

// ---------------------------------------------------------------- limits (dictionary)
function limitClass(name, v) {
  const m = state.hkMeta[name];
  if (!m || typeof v !== "number") return "";
  const out = (r) => Array.isArray(r) && r.length === 2 &&
    ((r[0] !== null && v < r[0]) || (r[1] !== null && v > r[1]));
  if (out(m.alarm)) return "alarm";
  if (out(m.warn)) return "warn";
  return (m.warn || m.alarm) ? "ok" : "";
}

// ---------------------------------------------------------------- housekeeping
function showHk(p) {
  state.lastHk = p;
  const fields = p.fields || {};
  const body = $("hk").tBodies[0];
  body.replaceChildren();
  for (const [k, v] of Object.entries(fields)) {
    const m = state.hkMeta[k] || {};
    const tr = el("tr", null, limitClass(k, v));
    tr.dataset.field = k;
    tr.append(el("td", k), el("td", fmt(v), "v"), el("td", m.unit || ""));
    if (m.description) tr.title = m.description;
    body.append(tr);
  }
  if (fields.mode !== undefined) { $("mode").textContent = "mode " + fields.mode; }
  // the payload modules' values: by the declaring owner when the dictionary has it
  const mod = /^(apt|bias|comp|comparator|framer)/;
  const parts = Object.entries(fields).filter(([k]) =>
    state.hkMeta[k] && state.hkMeta[k].owner ? mod.test(state.hkMeta[k].owner) : mod.test(k));
  const s = $("summary");
  s.replaceChildren();
  if (!parts.length) {
    s.textContent = "no APT, bias or comparator values in this housekeeping " +
      "(payload modules not running)";
  }
  for (const [k, v] of parts) {
    const m = state.hkMeta[k] || {};
    const d = el("div", k + " = " + fmt(v) + (m.unit ? " " + m.unit : ""), limitClass(k, v));
    d.dataset.field = k;
    s.append(d);
  }
}

// ---------------------------------------------------------------- events
function showEvent(p) {
  const b = p.body || {};
  const line = el("div", [iso(p.t), fmt(b.time), b.severity, b.name, b.text,
    b.args && b.args.length ? JSON.stringify(b.args) : ""].join("  "),
    "event sev-" + (b.severity || "INFO"));
  const box = $("events");
  box.prepend(line);
  while (box.childElementCount > 300) box.lastElementChild.remove();
}

// ---------------------------------------------------------------- link
function showLink(l) {
  const b = $("link");
  const stale = l.age_s !== null && l.age_s > 5;
  b.className = "badge " + (l.state !== "up" ? "down" : stale ? "stale" : "up");
  b.textContent = "link " + l.state + (l.detail ? ": " + l.detail : "");
  $("link-stats").textContent = l.port + " · " + l.packets_in + " packets · " +
    l.bad_frames + " bad · " + l.tcs_out + " TCs";
}

// ---------------------------------------------------------------- command history
function showCmd(c) {
  state.history.set(c.id, c);
  let tr = document.querySelector('#history tr[data-id="' + c.id + '"]');
  if (!tr) {
    tr = el("tr");
    tr.dataset.id = c.id;
    $("history").tBodies[0].prepend(tr);
  }
  const detail = [c.accept_reason, c.complete_reason, c.detail,
    c.result !== undefined && c.result !== null ? JSON.stringify(c.result) : null]
    .filter((x) => x).join(" ");
  tr.replaceChildren(el("td", iso(c.t)), el("td", c.name + " " + JSON.stringify(c.args || {})),
    el("td", c.seq), el("td", c.status, "st-" + c.status), el("td", detail), el("td", c.client));
  if (state.waiting === c.id) {
    const r = $("cmd-result");
    const done = ["completed", "rejected", "failed"].includes(c.status);
    r.className = c.status === "completed" ? "ok" : (done ? "bad" : "");
    r.textContent = c.name + " seq " + c.seq + ": " + c.status + (detail ? " — " + detail : "");
  }
}

// ---------------------------------------------------------------- command form
function argInput(a) {
  let inp;
  if (a.choices) {
    inp = el("select");
    if (!a.required) inp.append(el("option", ""));
    for (const c of a.choices) { const o = el("option", c); o.value = c; inp.append(o); }
  } else if (a.type === "bool") {
    inp = el("select");
    for (const c of (a.required ? ["true", "false"] : ["", "true", "false"])) inp.append(el("option", c));
  } else {
    inp = el("input");
    if (a.type === "int" || a.type === "float") {
      inp.type = "number";
      inp.step = a.type === "int" ? "1" : "any";
      if (a.min !== null && a.min !== undefined) inp.min = a.min;
      if (a.max !== null && a.max !== undefined) inp.max = a.max;
    } else { inp.type = "text"; }
    if (a.default !== undefined) inp.placeholder = fmt(a.default);
  }
  inp.name = a.name;
  inp.required = !!a.required;
  return inp;
}

function describeArg(a) {
  let s = a.type;
  if (a.choices) s += ", one of " + a.choices.join("|");
  else if (a.min !== null && a.min !== undefined) s += ", " + a.min + ".." + a.max;
  if (a.unit && a.unit !== "1") s += " " + a.unit;
  return s + (a.required ? "" : " (optional)") + (a.description ? " — " + a.description : "");
}

function buildForm() {
  const c = state.commands[$("cmd-name").value];
  $("cmd-desc").textContent = c.description + "  (modes: " + c.modes.join(", ") + ")";
  const box = $("cmd-args");
  box.replaceChildren();
  for (const a of c.args) {
    const l = el("label", a.name + " ");
    l.append(argInput(a), el("span", " " + describeArg(a), "hint"));
    box.append(l);
  }
  $("confirm").checked = false;
  $("confirm-row").hidden = !c.hazardous;
  $("hazard-why").textContent = c.hazardous ? c.name + " is hazardous" : "";
}

async function send(ev) {
  ev.preventDefault();
  const name = $("cmd-name").value;
  const args = {};
  for (const inp of $("cmd-args").querySelectorAll("input,select")) {
    if (inp.value !== "") args[inp.name] = inp.value;
  }
  const r = $("cmd-result");
  r.className = "";
  r.textContent = "sending " + name + "…";
  const resp = await fetch("/api/command", { method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, args, confirm: $("confirm").checked, client: "web" }) });
  const body = await resp.json();
  if (!resp.ok) {
    r.className = "bad";
    r.textContent = body.error;
    if (body.hazardous) { $("confirm-row").hidden = false; $("hazard-why").textContent = body.error; }
    return;
  }
  state.waiting = body.id;
  showCmd(state.history.get(body.id) || body);
}

// ---------------------------------------------------------------- start
async function start() {
  state.dict = await (await fetch("/api/dictionary")).json();
  const tel = state.dict.telemetry || {};
  for (const set of ["hk", "hk_diag"]) {
    for (const f of ((tel[set] || {}).fields || [])) state.hkMeta[f.name] = f;
  }
  const sel = $("cmd-name");
  for (const c of state.dict.commands) {
    state.commands[c.name] = c;
    const o = el("option", c.name + (c.hazardous ? " ⚠" : ""));
    o.value = c.name;
    sel.append(o);
  }
  sel.addEventListener("change", buildForm);
  buildForm();
  $("cmd-form").addEventListener("submit", send);
  const st = await (await fetch("/api/status")).json();
  showLink(st.link);
  if (st.latest.hk) showHk(st.latest.hk);
  for (const e of st.events) showEvent(e);
  for (const c of await (await fetch("/api/commands")).json()) showCmd(c);
  const es = new EventSource("/api/stream");
  es.addEventListener("tm", (m) => {
    const p = JSON.parse(m.data);
    if (!p.ok) return;
    if (p.kind === "hk") showHk(p);
    else if (p.kind === "event") showEvent(p);
  });
  es.addEventListener("cmd", (m) => showCmd(JSON.parse(m.data)));
  es.addEventListener("link", (m) => showLink(JSON.parse(m.data)));
  es.onerror = () => { $("link").className = "badge down"; $("link").textContent = "gateway unreachable"; };
  setInterval(async () => {
    try { showLink((await (await fetch("/api/status")).json()).link); } catch (e) { /* shown by onerror */ }
    if (state.lastHk) $("hk-age").textContent = "received " + iso(state.lastHk.t);
  }, 2000);
}

start();
