const seats = document.getElementById("seats"), captions = document.getElementById("captions");
let speakingUntil = 0;
let moderatorLine = null;

// One caption per answer (``key``): its words grow as they are heard, its
// sources' titles under it. ``seq`` numbers each piece, for its translation.
function caption(name, text, cls, seq, key, titles) {
  let p = [...captions.querySelectorAll("p:not(.translation)")].pop();
  if (!key || !p || p.dataset.key !== key) {
    p = document.createElement("p");
    p.className = cls || "";
    p.dataset.key = key || "";
    p.dataset.seqs = "";
    const who = document.createElement("span"), words = document.createElement("span");
    who.textContent = `${name}: `;
    words.className = "words";
    p.append(who, words);
    captions.append(p);
  }
  const words = p.querySelector(".words");
  words.textContent = (words.textContent + " " + text).trim();
  p.dataset.seqs = `${p.dataset.seqs} ${seq || ""}`.trim();
  if (titles && titles.length) {
    let s = p.querySelector(".sources");
    if (!s) { s = document.createElement("small"); s.className = "sources"; p.append(s); }
    const known = s.dataset.titles ? JSON.parse(s.dataset.titles) : [];
    for (const t of titles) if (!known.includes(t)) known.push(t);
    s.dataset.titles = JSON.stringify(known);
    s.textContent = "Sources: " + known.join("; ");
  }
  while (captions.querySelectorAll("p:not(.translation)").length > 2) {
    captions.firstChild.remove();
    while (captions.firstChild && captions.firstChild.classList.contains("translation")) captions.firstChild.remove();
  }
  return p;
}

function translation(message) {
  // the second language's line, under the caption it translates (none without a capable model)
  const original = [...captions.querySelectorAll("p:not(.translation)")]
    .find((p) => p.dataset.seqs.split(" ").includes(String(message.of)));
  if (!original) return;
  let p = original.nextElementSibling;
  if (!p || !p.classList.contains("translation")) {
    p = document.createElement("p");
    p.className = "translation";
    p.lang = message.language;
    original.after(p);
  }
  // Chinese runs on without spaces between its sentences
  const joint = /[\u3000-\u9fff\uff00-\uffef]$/.test(p.textContent) ? "" : " ";
  p.textContent = (p.textContent + joint + message.text).trim();
}

function speaking(pid, seconds) {
  for (const seat of seats.children) seat.classList.toggle("speaking", seat.dataset.id === pid);
  speakingUntil = Date.now() + seconds * 1000;
}
setInterval(() => { if (Date.now() > speakingUntil) speaking(null, 0); }, 200);

async function start() {
  const panel = await (await fetch("/stage/panel")).json();
  document.getElementById("title").textContent = panel.title;
  document.getElementById("moderator").textContent = `Moderator: ${panel.moderator}`;
  const videos = panel.panelists.map((p) => {
    const seat = document.createElement("div");
    seat.className = "seat";
    seat.dataset.id = p.id;
    seat.innerHTML = '<video autoplay playsinline muted></video><div class="label">AI avatar</div><div class="third"><b></b><span></span></div>';
    seat.querySelector("b").textContent = p.name;
    seat.querySelector("span").textContent = p.title;
    seats.append(seat);
    return seat.querySelector("video");
  });
  if (panel.livekit) await watchRoom(panel, videos); else await watchDirect(panel, videos);
  window.stageConnected = true;
}

function hear(track) {
  // the panelists' voices: played, or a button where the browser wants a click first
  const audio = document.getElementById("voices");
  audio.srcObject = new MediaStream([track]);
  audio.play().catch(() => {
    const button = document.getElementById("sound");
    button.style.display = "block";
    button.onclick = () => { audio.play(); button.style.display = "none"; };
  });
}

// Through LiveKit: each panelist is a participant ("panelist-ID") with a face
// and a voice; the stage's messages come as "fireside" data.
async function watchRoom(panel, videos) {
  const {Room, RoomEvent, Track} = await loadLiveKit();
  const room = new Room({adaptiveStream: true});
  const seat = (participant) => panel.panelists.findIndex((p) => `panelist-${p.id}` === participant.identity);
  room.on(RoomEvent.TrackSubscribed, (track, publication, participant) => {
    const index = seat(participant);
    if (index < 0) return;
    if (track.kind === Track.Kind.Video) {
      track.attach(videos[index]);  // attached: the SDK sends the size the seat shows (adaptive stream)
    } else {
      const audio = track.attach();  // one element per panelist's voice
      audio.hidden = true;
      document.body.append(audio);
    }
  });
  room.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
    if (topic === "fireside") onMessage(panel, JSON.parse(new TextDecoder().decode(payload)));
  });
  room.on(RoomEvent.AudioPlaybackStatusChanged, () => {
    if (room.canPlaybackAudio) return;
    const button = document.getElementById("sound");
    button.style.display = "block";
    button.onclick = () => { room.startAudio(); button.style.display = "none"; };
  });
  await room.connect(panel.livekit.url, panel.livekit.token);
  window.stageRoom = room;
}

// Direct: one WebRTC connection to this server, a video per panelist, the voices mixed.
async function watchDirect(panel, videos) {
  const pc = new RTCPeerConnection();
  const transceivers = panel.panelists.map(() => pc.addTransceiver("video", {direction: "recvonly"}));
  pc.addTransceiver("audio", {direction: "recvonly"});
  pc.ontrack = (event) => {
    const seat = transceivers.indexOf(event.transceiver);
    if (seat >= 0) videos[seat].srcObject = new MediaStream([event.track]);
    else hear(event.track);
  };
  const channel = pc.createDataChannel("captions");
  channel.onmessage = (event) => onMessage(panel, JSON.parse(event.data));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  const response = await fetch("/stage/offer", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({sdp: pc.localDescription.sdp, type: "offer"}),
  });
  await pc.setRemoteDescription(await response.json());
  // connected once the captions can arrive: a message sent before the channel opens is not sent
  if (channel.readyState !== "open") await new Promise((resolve) => channel.addEventListener("open", resolve, {once: true}));
}

function onMessage(panel, message) {
  window.stageMessages = (window.stageMessages || 0) + 1;
  if (message.type === "caption" && message.panelist === "moderator") {
    // the moderator's words as they come: one line, rewritten until the turn is whole
    if (moderatorLine) moderatorLine.remove();
    const line = caption(message.name, message.text, "person", message.seq);
    moderatorLine = message.final ? null : line;
  } else if (message.type === "caption") {
    caption(message.name || message.panelist, message.text, "", message.seq,
            `${message.panelist}:${message.answer}`, message.titles);
    speaking(message.panelist, message.end - message.start);
  } else if (message.type === "asked" && message.by === "audience") {
    // the audience's words, as theirs: never the moderator's (a refused one never comes here)
    caption(message.asker ? `Question from ${message.asker}` : "Audience question",
            message.question, "audience", message.seq);
    // asked in another language: the asker's own words under the English
    if (message.original) translation({ of: message.seq, text: message.original, language: "" });
  } else if (message.type === "asked" && message.by === "moderator") {
    caption(panel.moderator, message.question, "person");
  } else if (message.type === "translation") {
    translation(message);
  } else if (message.type === "stopped") {
    speaking(null, 0);
  }
}
start();
