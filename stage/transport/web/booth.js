// The photo booth's kiosk: a camera preview, a name, a line and a voice, consent,
// a 3-2-1 countdown, then the keepsake made on the server and its QR code.
const $ = (id) => document.getElementById(id);
const KIOSK = `kiosk-${Math.random().toString(36).slice(2)}`; // this kiosk's place in the booth's queue
let setup = null;

function say(message, kind) {
  $("status").textContent = message;
  $("status").className = kind || "";
}

function choices(fieldset, name, values, label) {
  fieldset.querySelectorAll("label").forEach((l) => l.remove());
  values.forEach((value, i) => {
    const row = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = String(i);
    input.checked = i === 0;
    row.append(input, document.createTextNode(label(value)));
    fieldset.append(row);
  });
}

async function loadSetup() {
  const name = encodeURIComponent($("name").value);
  setup = await (await fetch(`/booth/setup?name=${name}`)).json();
  $("title").textContent = setup.title;
  const chosen = document.querySelector("input[name=line]:checked");
  choices($("lines"), "line", setup.lines, (line) => `“${line}”`);
  if (chosen && document.querySelector(`input[name=line][value="${chosen.value}"]`))
    document.querySelector(`input[name=line][value="${chosen.value}"]`).checked = true;
  if (!document.querySelector("input[name=voice]"))
    choices($("voices"), "voice", setup.voices, (voice) => voice.replace(/^kokoro-/, ""));
  $("consent-text").textContent =
    `I agree that my photo is animated by AI to make my keepsake. It is made on this machine, ` +
    `nothing is sent anywhere, and it is deleted after ${setup.keep_hours} hours (or when I ask).`;
}

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: false });
    $("preview").srcObject = stream;
  } catch (err) {
    say("The camera is not available: allow it in the browser, or ask for help at the booth.", "refused");
    $("capture").disabled = true;
  }
}

function countdown() {
  return new Promise((done) => {
    let n = 3;
    $("countdown").hidden = false;
    $("countdown").textContent = n;
    const tick = setInterval(() => {
      n -= 1;
      if (n === 0) {
        clearInterval(tick);
        $("countdown").hidden = true;
        done();
      } else $("countdown").textContent = n;
    }, 1000);
  });
}

function photo() {
  // the middle square of the camera's picture, as the preview shows it (unmirrored)
  const video = $("preview"), canvas = $("shot");
  const side = Math.min(video.videoWidth, video.videoHeight);
  canvas.width = canvas.height = side;
  canvas.getContext("2d").drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2,
    side, side, 0, 0, side, side);
  return new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.92));
}

$("name").addEventListener("change", loadSetup);
$("booth").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!$("consent").checked) {
    say("Please tick the box to agree first.", "refused");
    return;
  }
  if (!$("preview").videoWidth) {
    say("The camera has no picture yet.", "refused");
    return;
  }
  $("capture").disabled = true;
  say("");
  await countdown();
  const form = new FormData();
  form.append("photo", await photo(), "photo.jpg");
  form.append("name", $("name").value);
  form.append("line", document.querySelector("input[name=line]:checked").value);
  form.append("voice", setup.voices[Number(document.querySelector("input[name=voice]:checked").value)]);
  form.append("consent", "yes");
  form.append("kiosk", KIOSK);
  say("Making your keepsake… (about ten seconds)", "working");
  const queue = setInterval(showPlace, 1000);
  try {
    const response = await fetch("/booth/keepsakes", { method: "POST", body: form });
    clearInterval(queue);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(answer.error ? `${answer.error[0].toUpperCase()}${answer.error.slice(1)}.` : "Something went wrong: try again.", "refused");
      return;
    }
    $("keepsake").src = `${answer.page}/keepsake.mp4`;
    $("qr").src = `${answer.page}/qr.svg`;
    $("result").hidden = false;
    $("booth").hidden = $("camera-side").hidden = true;
    say("Here you are! Scan the code to take it home.");
    $("keepsake").play().catch(() => {});
  } catch (err) {
    say("The booth cannot be reached: try again.", "refused");
  } finally {
    clearInterval(queue);
    $("capture").disabled = false;
  }
});

// while the booth makes other kiosks' keepsakes first, say how many are ahead
async function showPlace() {
  const place = await (await fetch(`/booth/queue?kiosk=${KIOSK}`)).json().catch(() => null);
  if (!place || $("status").className !== "working") return;
  say(
    place.ahead > 0
      ? `Waiting for ${place.ahead} keepsake${place.ahead > 1 ? "s" : ""} ahead of yours…`
      : "Making your keepsake… (about ten seconds)",
    "working",
  );
}

$("again").addEventListener("click", () => {
  $("result").hidden = true;
  $("keepsake").removeAttribute("src");
  $("booth").hidden = $("camera-side").hidden = false;
  $("name").value = "";
  $("consent").checked = false;
  say("");
  loadSetup();
});

loadSetup();
startCamera();
