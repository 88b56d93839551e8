// The call page: one RTCPeerConnection to POST /offer. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
let pc = null;
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

function hangUp() {
  if (pc) {
    pc.getSenders().forEach((s) => s.track && s.track.stop());
    pc.close();
    pc = null;
  }
  $("hangup").disabled = true;
  $("start").disabled = false;
}

// before the call: the persona's face at rest, and what to do
function ready() {
  const option = $("persona").selectedOptions[0];
  if (!option) return;
  $("avatar").poster = `/personas/${encodeURIComponent(option.value)}/still.png`;
  if (!pc) status(`Press "Start the call", allow the microphone, then talk: ${option.textContent.split(" (")[0]} answers when you pause.`);
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
loadPersonas();
loadLanguages();
