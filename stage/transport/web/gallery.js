// The organiser's gallery: every keepsake still kept, newest first, each with delete.
const token = new URLSearchParams(location.search).get("token") || "";
const auth = { Authorization: `Bearer ${token}` };

async function load() {
  const response = await fetch("/booth/gallery", { headers: { ...auth, Accept: "application/json" } });
  const list = document.getElementById("kept");
  list.replaceChildren();
  if (!response.ok) {
    document.getElementById("summary").textContent = "The gallery needs the organiser's token: /booth/gallery?token=…";
    return;
  }
  const { keepsakes } = await response.json();
  document.getElementById("summary").textContent = `${keepsakes.length} keepsake(s) kept.`;
  for (const k of keepsakes) {
    const item = document.createElement("li");
    const card = document.createElement("img");
    card.src = `/booth/k/${k.token}/keepsake.png`;
    card.alt = k.line;
    const text = document.createElement("p");
    text.textContent = `${new Date(k.made * 1000).toLocaleTimeString()} ${k.name || "(no name)"}: “${k.line}”`;
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.addEventListener("click", async () => {
      await fetch(`/booth/gallery/${k.token}/delete`, { method: "POST", headers: auth });
      load();
    });
    item.append(card, text, remove);
    list.append(item);
  }
}

load();
