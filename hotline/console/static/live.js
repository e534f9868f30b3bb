// The live call cards, kept up to date by the server's events (EventSource): no polling.
// A file of its own, not inline: the console's Content-Security-Policy allows no inline script.
(() => {
  const box = document.getElementById("live");
  if (!box) return;
  let pending = null;
  let offset = 0; // the server's clock minus this browser's
  const typing = () => box.contains(document.activeElement)
    && ["SELECT", "INPUT", "TEXTAREA"].includes(document.activeElement.tagName);
  const clock = (s) => (s >= 60 ? `${Math.floor(s / 60)}分${String(s % 60).padStart(2, "0")}秒` : `${s}秒`);
  const tick = () => {
    for (const el of box.querySelectorAll("[data-since]")) {
      const since = Number(el.dataset.since);
      if (since) el.textContent = clock(Math.max(0, Math.floor((Date.now() + offset - since) / 1000)));
    }
  };
  const calibrate = () => {
    const now = box.querySelector("[data-server-now]");
    if (now) offset = Number(now.dataset.serverNow) - Date.now();
  };
  // What the watcher chose in the forms (a prefecture, a party, a box ticked) survives a swap.
  const key = (el) => `${el.form ? el.form.getAttribute("action") : ""}|${el.name}|${el.type === "radio" ? el.value : ""}`;
  const choices = () => {
    const kept = new Map();
    for (const el of box.querySelectorAll("select[name], input[type=checkbox], input[type=radio]")) {
      kept.set(key(el), el.tagName === "SELECT" ? el.value : el.checked);
    }
    return kept;
  };
  const restore = (kept) => {
    for (const el of box.querySelectorAll("select[name], input[type=checkbox], input[type=radio]")) {
      const k = key(el);
      if (!kept.has(k)) continue;
      if (el.tagName === "SELECT") el.value = kept.get(k); else el.checked = kept.get(k);
    }
  };
  // Not while the counsellor is choosing in a list: the new cards wait until they leave it.
  const swap = (html) => {
    if (typing()) { pending = html; return; }
    const kept = choices();
    box.innerHTML = html;
    restore(kept);
    pending = null;
    calibrate();
    tick();
  };
  box.addEventListener("focusout", () => setTimeout(() => { if (pending !== null && !typing()) swap(pending); }, 0));
  const source = new EventSource(box.dataset.events);
  for (const name of ["calls", "board"]) source.addEventListener(name, (e) => swap(e.data));
  // A stream refused (the session ended: the answer is the login page) is not retried by the
  // browser: load the page again, which leads to the login and back.
  source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) location.reload(); });
  calibrate();
  setInterval(tick, 1000);
})();
