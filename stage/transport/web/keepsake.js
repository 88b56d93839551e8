// An attendee's keepsake on their phone: watch it, save it, or delete it now.
const $ = (id) => document.getElementById(id);
const page = location.pathname.replace(/\/$/, "");

async function load() {
  const response = await fetch(`${page}/about`);
  if (!response.ok) {
    $("status").textContent = "This keepsake is not here any more: it was deleted, or it expired.";
    document.querySelectorAll("video, img, .downloads, #delete").forEach((e) => (e.hidden = true));
    return;
  }
  const about = await response.json();
  $("title").textContent = about.title;
  $("video").src = `${page}/keepsake.mp4`;
  $("card").src = `${page}/keepsake.png`;
  $("save-video").href = `${page}/keepsake.mp4`;
  $("save-card").href = `${page}/keepsake.png`;
  const until = new Date(about.expires * 1000);
  $("expires").textContent = `Kept on the event's machine until ${until.toLocaleString()}, then deleted. Save it before then.`;
}

$("delete").addEventListener("click", async () => {
  if (!confirm("Delete your video and card now? This cannot be undone.")) return;
  const response = await fetch(`${page}/delete`, { method: "POST" });
  $("status").textContent = response.ok ? "Deleted." : "It could not be deleted: ask at the booth.";
  if (response.ok) document.querySelectorAll("video, img, .downloads, #delete").forEach((e) => (e.hidden = true));
});

load();
