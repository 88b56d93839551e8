const form = document.getElementById("ask"), status = document.getElementById("status");
const text = document.getElementById("text"), count = document.getElementById("count");

// the show's title, as the stage shows it
fetch("/stage/panel").then((r) => (r.ok ? r.json() : null)).then((panel) => {
  if (panel) document.getElementById("show").textContent = panel.title;
}).catch(() => {});

function counted() {
  count.textContent = text.value.length;
  count.parentElement.classList.toggle("full", text.value.length >= 280);
}
text.addEventListener("input", counted);

function say(message, kind) {
  status.textContent = message;
  status.className = kind || "";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  say("Sending…");
  try {
    const response = await fetch("/ask", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: text.value, name: document.getElementById("name").value}),
    });
    // the server says why it refused ({"error"}); a proxy's error page is not JSON
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      say("Thank you: your question is with the moderator. Watch the screen: it may be asked next.", "sent");
      text.value = "";
      counted();
    } else {
      say(answer.error || `Not sent (${response.status}).`, "refused");
    }
  } catch (error) {
    say(`Not sent: ${error}`, "refused");
  }
});
