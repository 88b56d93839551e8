const token = new URLSearchParams(location.search).get("token") || "";
const headers = {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"};
const $ = (id) => document.getElementById(id);
let panelists = [], names = {};
const chosen = {};  // the panelist the moderator picked for a question, kept across refreshes
let stageOffset = null;  // the stage clock minus this page's (seconds), from /console/show
const stageNow = () => (stageOffset === null ? null : Date.now() / 1000 + stageOffset);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
const nameOf = (id) => (id === "all" ? "all" : names[id] || id);
const clock = (seconds) => {
  const s = Math.round(Math.abs(seconds));
  return `${seconds < 0 ? "-" : ""}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

// what the server said: its answer, or why it refused ({"error"}; a proxy's error page is not JSON)
async function reply(response) {
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) answer.error = answer.error || `refused (${response.status} ${response.statusText})`;
  return answer;
}

async function control(path, body) {
  try {
    const response = await fetch(path, {method: "POST", headers, body: JSON.stringify(body || {})});
    const answer = await reply(response);
    $("status").textContent = response.ok ? `${path.split("/").pop()}: done` : answer.error;
    return response.ok;
  } catch (error) {
    $("status").textContent = `Not sent: ${error}`;
    return false;
  }
}

// -- the live controls ------------------------------------------------------------------------------
$("stop").onclick = () => control("/console/stop");
$("hold").onclick = () => control("/console/hold");
$("say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (await control("/console/say", {to: $("say-to").value, text: $("say-text").value})) $("say-text").value = "";
});
// the panelist chosen for "say" is also who unaddressed spoken questions go to
$("say-to").onchange = (event) => control("/console/select", {to: event.target.value});

$("mic").onclick = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection();
  for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  const response = await fetch("/console/mic", {method: "POST", headers,
    body: JSON.stringify({sdp: pc.localDescription.sdp, type: "offer"})});
  const answer = await reply(response);
  if (!response.ok) { $("status").textContent = answer.error; return; }
  await pc.setRemoteDescription(answer);
  $("mic").disabled = true;
  $("status").textContent = "Microphone on: name a panelist, or the selected one answers.";
};

// -- the room: a transcript read top to bottom, newest last -----------------------------------------
// an answer's sources as a person reads them: the document's title, then the section or page
function sourced(m) {
  const titles = (m.titles && m.titles.length) ? m.titles : (m.sources || []);
  return titles.length ? `Sources: ${titles.join("; ")}` : "";
}

let seen = 0, answering = null;  // answering: the transcript entry of the answer being said
const said = {};  // panelist -> {start, end} of the words being heard (stage clock)
const latencies = [];

function entry(cls, who, text) {
  const list = $("transcript");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const li = el("li", cls);
  if (who) li.append(el("span", "who", `${who}: `));
  li.append(el("span", "words", text));
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
  return li;
}

function show(m) {
  if (m.type === "asked") {
    answering = null;
    const from = m.by === "audience" ? `audience question${m.asker ? ` from ${m.asker}` : ""}` : "moderator";
    const li = entry("asked", `Asked ${nameOf(m.to)} (${from})`, m.question);
    if (m.refused) li.append(el("span", "ended", `refused by the guardrail (${m.refused}): not shown on stage`));
  } else if (m.type === "clause") {
    // one entry per answer: its sentences, in order, as they are decided (before they are heard)
    if (!answering || answering.dataset.panelist !== m.panelist) {
      answering = entry("answer", nameOf(m.panelist), "");
      answering.dataset.panelist = m.panelist;
    }
    const words = answering.querySelector(".words");
    words.textContent = `${words.textContent} ${m.text}`.trim();
    const line = sourced(m);
    if (line) {
      let s = answering.querySelector(".sources");
      if (!s) { s = el("small", "sources"); answering.append(s); }
      if (!s.textContent.includes(line.slice(9))) s.textContent = s.textContent ? `${s.textContent}; ${line.slice(9)}` : line;
    }
  } else if (m.type === "caption" && m.panelist === "moderator" && m.final !== false) {
    answering = null;
    entry("moderator", `${m.name} (moderator)`, m.text);
  } else if (m.type === "caption" && m.panelist !== "moderator" && m.start !== undefined) {
    const now = said[m.panelist];
    said[m.panelist] = {start: now && now.answer === m.answer ? now.start : m.start, end: m.end, answer: m.answer};
  } else if (m.type === "decision") {
    entry("decision", `Guardrail (${m.check}) ${m.action}`, `${m.rule}: ${m.reason}`);
  } else if (m.type === "answer_end") {
    const target = answering && answering.dataset.panelist === m.panelist ? answering : entry("answer", nameOf(m.panelist), "");
    target.append(el("span", "ended", `${m.outcome}`));
    answering = null;
    if (m.metrics && m.metrics.e2e_latency !== undefined) {
      latencies.push({who: nameOf(m.panelist), ...m.metrics});
      latency();
    }
  } else if (m.type === "stopped") {
    answering = null;
    entry("stopped", "", "Stopped.");
  }
}

async function follow() {
  const response = await fetch(`/console/feed?after=${seen}`, {headers});
  if (!response.ok) return;
  for (const m of await response.json()) {
    seen = Math.max(seen, m.seq);
    show(m);
  }
}

function latency() {
  const rows = latencies.slice(-5).reverse().map((l) => {
    const tr = el("tr");
    tr.append(el("td", "", l.who), el("td", "n", `${Math.round(l.e2e_latency * 1000)} ms`),
      el("td", "n", l.end_of_turn_delay ? `${Math.round(l.end_of_turn_delay * 1000)} ms` : "–"));
    return tr;
  });
  const head = el("tr");
  head.append(el("th", "", "answer"), el("th", "", "first audio after the question"), el("th", "", "end of turn"));
  $("latency").replaceChildren(head, ...rows);
}

// who is speaking now, and for how long (the stage clock)
function speaking() {
  const now = stageNow();
  const on = now === null ? null : Object.entries(said).find(([, s]) => s.end > now);
  $("speaking").classList.toggle("on", Boolean(on));
  $("speaking").textContent = on ? `${nameOf(on[0])} is speaking (${clock(now - on[1].start)})` : "No one is speaking";
}

// -- the run-of-show: each segment's slot against the time it took ----------------------------------
async function runOfShow() {
  const response = await fetch("/console/show", {headers});
  if (!response.ok) return;
  const state = await response.json();
  stageOffset = state.clock - Date.now() / 1000;
  const began = state.segments.filter((s) => s.took !== null);
  const total = began.reduce((sum, s) => sum + s.took, 0);
  $("clock").textContent = began.length ? `show ${clock(total)} of ${clock(state.planned)} planned` : "show not started";
  const rows = state.segments.map((s) => {
    const tr = el("tr", s.index === state.current ? "current" : "");
    const over = s.over === null ? "" : s.over > 0 ? `${clock(s.over)} over` : `${clock(-s.over)} under`;
    const go = el("button", "", s.index === state.current ? "now" : "begin");
    go.disabled = s.index === state.current;
    go.onclick = () => control("/console/segment", {index: s.index}).then(runOfShow);
    const cell = el("td");
    cell.append(go);
    tr.append(el("td", "", s.summary), el("td", "n", clock(s.slot)),
      el("td", "n", s.took === null ? "" : clock(s.took)), el("td", `n ${s.over > 0 ? "over" : "under"}`, over), cell);
    return tr;
  });
  const head = el("tr");
  for (const h of ["segment", "slot", "took", "", ""]) head.append(el("th", "", h));
  $("show").replaceChildren(head, ...rows);
}

// -- the queue ----------------------------------------------------------------------------------------
async function act(id, body) {
  const response = await fetch(`/console/questions/${id}`, {method: "POST", headers, body: JSON.stringify(body)});
  const answer = await reply(response);
  $("status").textContent = response.ok ? `${body.action}: done` : answer.error;
  await refresh();
}

const VERDICT = {refused: "Refused", held: "Will be held", fine: "Fine"};

function row(question, index) {
  const li = el("li", `status-${question.status}`);
  li.dataset.id = question.id;
  const text = el("div", "text", question.text);
  if (question.outcome === "stopped") text.append(el("span", "badge cut", "cut: ask again"));
  const when = question.submitted ? new Date(question.submitted).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) : "";
  const meta = el("div", "meta",
    `${question.name || "anonymous"} · ${when} · ${question.status}` + (question.to ? ` · to ${nameOf(question.to)}` : ""));
  li.append(text);
  // asked in another language: the asker's words, under the English the panel will hear
  if (question.original) li.append(el("div", "original", `asked as: ${question.original}`));
  li.append(meta);
  const verdict = question.verdict;
  if (verdict) {
    const who = verdict.panelist ? ` (${nameOf(verdict.panelist)})` : "";
    li.append(el("div", `verdict ${verdict.outcome}`, `${VERDICT[verdict.outcome]}${who}: ${verdict.reason}`));
  }
  const to = el("select", "to");
  to.append(new Option("to whom?", ""));
  for (const id of [...panelists, "all"]) to.append(new Option(nameOf(id), id));
  // the moderator's pick, else the question's, else whom its words name (or who can answer it)
  to.value = chosen[question.id] || question.to || (verdict && verdict.suggested) || "";
  to.onchange = () => { chosen[question.id] = to.value; };
  const addressed = (go) => () => (to.value ? go() : ($("status").textContent = "Choose whom to ask first."));
  const buttons = [
    ["approve", addressed(() => act(question.id, {action: "approve", to: to.value}))],
    ["ask now", addressed(() => control("/console/ask", {id: question.id, to: to.value}).then(refresh))],
    ["reject", () => act(question.id, {action: "reject"})],
    ["edit", () => { const t = prompt("Edit the question", question.text); if (t) act(question.id, {action: "edit", text: t}); }],
    ["up", () => act(question.id, {action: "move", position: Math.max(0, index - 1)})],
    ["down", () => act(question.id, {action: "move", position: index + 1})],
  ].map(([label, handler]) => {
    const button = el("button", label.replace(" ", "-"), label);
    button.addEventListener("click", handler);
    return button;
  });
  li.append(to, ...buttons);
  return li;
}

function doneRow(question) {
  const when = question.asked ? new Date(question.asked).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}) : "";
  const li = el("li", `status-${question.status}`);
  li.append(el("div", "text", question.text),
    el("div", "meta", `${when} · to ${nameOf(question.to)} · ${question.outcome || question.status}`));
  return li;
}

async function refresh() {
  const response = await fetch("/console/queue", {headers});
  if (!response.ok) {
    $("status").textContent = (await reply(response)).error;
    return;
  }
  const data = await response.json();
  names = data.names || {};
  if (!panelists.length) $("say-to").replaceChildren(...data.panelists.map((id) => new Option(nameOf(id), id)));
  panelists = data.panelists;
  $("title").textContent = `Moderator's console: ${data.show}`;
  const open = data.questions.filter((q) => q.status === "pending" || q.status === "approved");
  const done = data.questions.filter((q) => q.status === "asked" || q.status === "answered")
    .sort((a, b) => (b.asked || "").localeCompare(a.asked || ""));
  // not while the moderator picks a panelist: the list would be redrawn under the pointer
  if (!document.activeElement || !document.activeElement.matches("#queue select")) {
    $("queue").replaceChildren(...open.map(row));
  }
  $("done").replaceChildren(...done.map(doneRow));
  // the audit log's disk refuses it: the show goes on, and the moderator knows
  $("audit").textContent = data.audit ? `Warning: ${data.audit}` : "";
  $("audit").hidden = !data.audit;
  if ($("status").textContent === "Loading…") $("status").textContent = `${open.length} open questions`;
}

refresh();
setInterval(refresh, 2000);
setInterval(follow, 1000);
runOfShow();
setInterval(runOfShow, 2000);
setInterval(speaking, 250);
