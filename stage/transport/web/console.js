const token = new URLSearchParams(location.search).get("token") || "";
const headers = {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"};
let panelists = [];

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
    document.getElementById("status").textContent = response.ok ? `${path.split("/").pop()}: done` : answer.error;
  } catch (error) {
    document.getElementById("status").textContent = `Not sent: ${error}`;
  }
}
document.getElementById("stop").onclick = () => control("/console/stop");
document.getElementById("hold").onclick = () => control("/console/hold");
document.getElementById("say").onclick = () => control("/console/say", {
  to: document.getElementById("say-to").value, text: document.getElementById("say-text").value});

// the panelist chosen for "say" is also who unaddressed spoken questions go to
document.getElementById("say-to").onchange = (event) => control("/console/select", {to: event.target.value});

document.getElementById("mic").onclick = async () => {
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
  if (!response.ok) { document.getElementById("status").textContent = answer.error; return; }
  await pc.setRemoteDescription(answer);
  document.getElementById("mic").disabled = true;
  document.getElementById("status").textContent = "Microphone on: name a panelist, or the selected one answers.";
};

// an answer's sources as a person reads them: the document's title, then the section or page
function sourced(m) {
  const titles = (m.titles && m.titles.length) ? m.titles : (m.sources || []);
  return titles.length ? ` [${titles.join("; ")}]` : "";
}

let seen = 0;
async function follow() {
  const response = await fetch(`/console/feed?after=${seen}`, {headers});
  if (!response.ok) return;
  for (const m of await response.json()) {
    seen = Math.max(seen, m.seq);
    if (m.type === "caption" && m.final === false) continue;  // the moderator's words so far: only the whole turn
    let text = null, cls = m.type;
    if (m.type === "asked") text = `Asked ${m.to}: ${m.question}`;
    else if (m.type === "clause") text = `${m.panelist} (${m.kind}) will say: ${m.text}` + sourced(m);
    else if (m.type === "caption") text = `${m.name}: ${m.text}`;
    else if (m.type === "decision") text = `Guardrail ${m.check} ${m.action} (${m.rule}): ${m.reason}`;
    else if (m.type === "answer_end") text = `${m.panelist}: ${m.outcome}` + sourced(m);
    else if (m.type === "stopped") text = "Stopped.";
    if (text) {
      const li = document.createElement("li");
      li.className = cls;
      li.textContent = text;
      document.getElementById("transcript").prepend(li);
    }
  }
}
setInterval(follow, 1000);

async function act(id, body) {
  const response = await fetch(`/console/questions/${id}`, {method: "POST", headers, body: JSON.stringify(body)});
  const answer = await reply(response);
  document.getElementById("status").textContent = response.ok ? `${body.action}: done` : answer.error;
  await refresh();
}

function row(question, index) {
  const li = document.createElement("li");
  li.dataset.id = question.id;
  li.className = `status-${question.status}`;
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = question.text;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${question.name || "anonymous"} · ${question.status}` + (question.to ? ` · to ${question.to}` : "");
  const to = document.createElement("select");
  to.className = "to";
  for (const id of [...panelists, "all"]) {
    const option = document.createElement("option");
    option.value = option.textContent = id;
    option.selected = id === (question.to || panelists[0]);
    to.append(option);
  }
  const buttons = [
    ["approve", () => act(question.id, {action: "approve", to: to.value})],
    ["ask now", () => control("/console/ask", {id: question.id, to: to.value}).then(refresh)],
    ["reject", () => act(question.id, {action: "reject"})],
    ["edit", () => { const text = prompt("Edit the question", question.text); if (text) act(question.id, {action: "edit", text}); }],
    ["up", () => act(question.id, {action: "move", position: Math.max(0, index - 1)})],
    ["down", () => act(question.id, {action: "move", position: index + 1})],
  ].map(([label, handler]) => {
    const button = document.createElement("button");
    button.textContent = label;
    button.className = label.replace(" ", "-");
    button.addEventListener("click", handler);
    return button;
  });
  li.append(text, meta, to, ...buttons);
  return li;
}

async function refresh() {
  const response = await fetch("/console/queue", {headers});
  if (!response.ok) {
    document.getElementById("status").textContent = (await reply(response)).error;
    return;
  }
  const data = await response.json();
  if (!panelists.length) {
    document.getElementById("say-to").replaceChildren(...data.panelists.map((id) => {
      const option = document.createElement("option");
      option.value = option.textContent = id;
      return option;
    }));
  }
  panelists = data.panelists;
  document.getElementById("title").textContent = `Moderator's console: ${data.show}`;
  const open = data.questions.filter((q) => q.status === "pending" || q.status === "approved");
  document.getElementById("queue").replaceChildren(...open.map(row));
  // the audit log's disk refuses it: the show goes on, and the moderator knows
  const warning = document.getElementById("audit");
  warning.textContent = data.audit ? `Warning: ${data.audit}` : "";
  warning.hidden = !data.audit;
  if (document.getElementById("status").textContent === "Loading…") {
    document.getElementById("status").textContent = `${open.length} open questions`;
  }
}

refresh();
setInterval(refresh, 2000);
