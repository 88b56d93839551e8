// LiveKit's browser client, loaded the first time a page needs it (a call or a stage
// served through LiveKit): the pages without LiveKit never download it.
"use strict";

function loadLiveKit() {
  if (window.LivekitClient) return Promise.resolve(window.LivekitClient);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/static/vendor/livekit-client.umd.js";
    script.onload = () => resolve(window.LivekitClient);
    script.onerror = () => reject(new Error("the LiveKit client is not installed (make setup)"));
    document.head.append(script);
  });
}
