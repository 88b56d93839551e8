const form = document.getElementById("ask"), status = document.getElementById("status");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  status.textContent = "Sending…";
  try {
    const response = await fetch("/ask", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: document.getElementById("text").value, name: document.getElementById("name").value}),
    });
    // the server says why it refused ({"error"}); a proxy's error page is not JSON
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      status.textContent = "Thank you: your question is with the moderator.";
      document.getElementById("text").value = "";
    } else {
      status.textContent = answer.error || `Not sent (${response.status}).`;
    }
  } catch (error) {
    status.textContent = `Not sent: ${error}`;
  }
});
