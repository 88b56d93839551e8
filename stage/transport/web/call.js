// The call page: one RTCPeerConnection to POST /offer or, when the server calls
// through LiveKit (GET /status says "via": "livekit"), a LiveKit room of the
// call's own that a worker's avatar joins. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const AVATAR_WAIT_MS = 60000; // a room call whose avatar has not joined by then: no worker took it
let via = "webrtc";
let pc = null;
let room = null; // the call's LiveKit room
let partial = null; // the caption line of the person's words in progress
let answering = null; // the avatar's answer being heard: {answer, li, titles}

function status(text) { $("status").textContent = text; }

function addCaption(who, text, cls) {
  const li = document.createElement("li");
  li.className = cls;
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = who;
  const words = document.createElement("span");
  words.className = "words";
  words.textContent = text;
  li.append(name, words);
  $("captions").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

// one caption per answer: its words grow as they are heard, its sources (readable titles) under it
function avatarCaption(m) {
  if (!answering || answering.answer !== m.answer) {
    const name = $("persona").selectedOptions[0].textContent.split(" (")[0];
    answering = { answer: m.answer, li: addCaption(name + " (AI)", "", "avatar " + m.kind), titles: [] };
  }
  const words = answering.li.querySelector(".words");
  words.textContent = (words.textContent + " " + m.text).trim();
  for (const t of m.titles || []) if (!answering.titles.includes(t)) answering.titles.push(t);
  if (answering.titles.length) {
    let s = answering.li.querySelector(".sources");
    if (!s) { s = document.createElement("span"); s.className = "sources"; answering.li.append(s); }
    s.textContent = "Sources: " + answering.titles.join("; ");
  }
  answering.li.scrollIntoView({ block: "end" });
}

// the answer's words in the language the caller chose, under them, as each line is ready
function translatedCaption(m) {
  if (!answering || answering.answer !== m.answer) return;
  let t = answering.li.querySelector(".translation");
  if (!t) {
    t = document.createElement("span");
    t.className = "translation";
    t.lang = m.language;
    answering.li.querySelector(".words").after(t);
  }
  const joint = /[\u3000-\u9fff\uff00-\uffef]$/.test(t.textContent) ? "" : " ";
  t.textContent = (t.textContent + joint + m.text).trim();
}

function onMessage(event) {
  const m = JSON.parse(event.data);
  if (m.type === "caption" && m.speaker === "person") {
    if (!partial) partial = addCaption("You", "", "person partial");
    partial.querySelector(".words").textContent = m.text;
    if (m.final) { partial.classList.remove("partial"); partial = null; }
  } else if (m.type === "caption") {
    avatarCaption(m);
  } else if (m.type === "translation") {
    translatedCaption(m);
  } else if (m.type === "stopped") {
    addCaption("", "(interrupted)", "notice");
  } else if (m.type === "guardrail") {
    addCaption("", "Guardrail: " + m.reason, "notice");
  }
}

async function start() {
  $("start").disabled = true;
  if (via === "livekit") return startRoom();
  status("Asking for the microphone…");
  let mic;
  try {
    mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  } catch (e) {
    status("No microphone: " + e.message);
    $("start").disabled = false;
    return;
  }
  pc = new RTCPeerConnection();
  const channel = pc.createDataChannel("captions");
  channel.onmessage = onMessage;
  pc.addTransceiver("video", { direction: "recvonly" });
  mic.getTracks().forEach((t) => pc.addTrack(t, mic));
  pc.ontrack = (e) => {
    if (e.track.kind === "video") $("avatar").srcObject = new MediaStream([e.track]);
    else $("voice").srcObject = new MediaStream([e.track]);
  };
  pc.onconnectionstatechange = () => {
    status("Call: " + pc.connectionState);
    if (["failed", "closed"].includes(pc.connectionState)) hangUp();
  };
  await pc.setLocalDescription(await pc.createOffer());
  // wait for ICE candidates to be gathered (loopback and LAN: quick)
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
    setTimeout(resolve, 2000);
  });
  status("Calling…");
  const response = await fetch("/offer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      sdp: pc.localDescription.sdp, type: "offer", persona: $("persona").value,
      captions: $("language").value || null,
    }),
  });
  const answer = await response.json();
  if (!response.ok) {
    status("The server said: " + answer.error);
    hangUp();
    return;
  }
  await pc.setRemoteDescription(answer);
  $("hangup").disabled = false;
  status("Connected. Talk to the avatar.");
}

// Through LiveKit: a room made for this call; the avatar joins it as "fireside-ID",
// listens to this page's microphone, and leaves when the page hangs up.
async function startRoom() {
  status("Calling…");
  let call;
  try {
    const response = await fetch("/rooms/call", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ persona: $("persona").value }),
    });
    call = await response.json();
    if (!response.ok) throw new Error(call.error);
  } catch (e) {
    status("The server said: " + e.message);
    $("start").disabled = false;
    return;
  }
  const { Room, RoomEvent, Track } = await loadLiveKit();
  const here = new Room();
  room = here;
  let joined = false;
  // the avatar is here: only now the microphone, so that nothing said before is lost
  const arrived = async () => {
    if (joined || room !== here) return;
    joined = true;
    clearTimeout(waiting);
    try {
      await here.localParticipant.setMicrophoneEnabled(true, {
        echoCancellation: true, noiseSuppression: true, autoGainControl: true });
    } catch (e) {
      if (room === here) hangUp();
      status("No microphone: " + e.message);
      return;
    }
    if (room === here) status(`Connected. Talk to ${call.name}.`);
  };
  const waiting = setTimeout(() => {
    if (room !== here || joined) return;
    hangUp();
    status(`${call.name} did not join: no avatar is free to answer right now. Try again in a moment.`);
  }, AVATAR_WAIT_MS);
  here.on(RoomEvent.ParticipantConnected, (participant) => {
    if (participant.identity === call.avatar) arrived();
  });
  here.on(RoomEvent.TrackSubscribed, (track, publication, participant) => {
    if (participant.identity === call.avatar) track.attach(track.kind === Track.Kind.Video ? $("avatar") : $("voice"));
  });
  here.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
    if (topic === "fireside") onMessage({ data: new TextDecoder().decode(payload) });
  });
  here.on(RoomEvent.ParticipantDisconnected, (participant) => {
    if (participant.identity !== call.avatar || room !== here) return;
    hangUp(); // its worker stopped (or the room closed): this call cannot go on
    status(`${call.name} left the call: the machine answering it stopped. Press "Start the call" to call again.`);
  });
  here.on(RoomEvent.Disconnected, () => {
    if (room !== here) return; // hung up here
    hangUp();
    status(`The call was lost (the LiveKit server went away). Press "Start the call" to call again.`);
  });
  try {
    await here.connect(call.url, call.token);
  } catch (e) {
    if (room === here) hangUp();
    status("Cannot join the call: " + e.message);
    return;
  }
  if (room !== here) return;
  $("hangup").disabled = false;
  if ([...here.remoteParticipants.values()].some((p) => p.identity === call.avatar)) arrived();
  else if (!joined) status(`Waiting for ${call.name} to join…`);
}

function hangUp() {
  if (room) {
    const leaving = room;
    room = null; // first: its own "disconnected" is then not a lost call
    leaving.disconnect();
    answering = null;
  }
  if (pc) {
    pc.getSenders().forEach((s) => s.track && s.track.stop());
    pc.close();
    pc = null;
  }
  // the face at rest again (the poster), not the call's last frame frozen
  $("avatar").srcObject = null;
  $("voice").srcObject = null;
  $("hangup").disabled = true;
  $("start").disabled = false;
}

// before the call: the persona's face at rest, and what to do
function ready() {
  const option = $("persona").selectedOptions[0];
  if (!option) return;
  $("avatar").poster = `/personas/${encodeURIComponent(option.value)}/still.png`;
  if (!pc && !room) status(`Press "Start the call", allow the microphone, then talk: ${option.textContent.split(" (")[0]} answers when you pause.`);
}

async function loadLanguages() {
  for (const l of await (await fetch("/languages")).json()) {
    const option = document.createElement("option");
    option.value = l.tag;
    option.textContent = l.name; // with its own name in its own script: 繁體中文
    $("language").append(option);
  }
}

async function loadPersonas() {
  const personas = await (await fetch("/personas")).json();
  for (const p of personas) {
    const option = document.createElement("option");
    option.value = p.id;
    option.textContent = `${p.name} (${p.title})`;
    $("persona").append(option);
  }
  ready();
}
$("persona").onchange = ready;

$("start").onclick = start;
$("hangup").onclick = () => { hangUp(); status("Call ended."); };
// how this server calls: directly (WebRTC to it) or through LiveKit rooms, where
// captions come in English only
async function loadTransport() {
  via = (await (await fetch("/status")).json()).via || "webrtc";
  $("language").closest("label").hidden = via === "livekit";
  if (via !== "livekit") loadLanguages();
}

loadPersonas();
loadTransport();
