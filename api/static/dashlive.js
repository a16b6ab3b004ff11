/* The live dashboard: the hall's public stream (/board/stream: case changes, no personal
   data, no token in any URL) tells the page something changed; the panels then reload
   from the token-protected API, at most once every RELOAD_MS, and only on the live view
   (a past "as of" day never changes). */
"use strict";
(function () {
  const D = window.CasestoreDash;
  const { $, state, token } = D;
  const RELOAD_MS = 1500;
  const SETTLE_MS = 6000; // once more after the last change: the views apply it just after the log
  let timer = null;
  let settle = null;
  let changes = 0;

  function setLive(mode, text) {
    $("live").dataset.state = mode;
    $("live-text").textContent = text;
  }

  function reload() {
    if (!token() || state.asOf) return;
    document.body.dataset.liveReloads = String(Number(document.body.dataset.liveReloads || 0) + 1);
    window.casestoreDashboard.loadAll();
  }

  function changed() {
    changes += 1;
    clearTimeout(settle);
    settle = setTimeout(reload, SETTLE_MS);
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; reload(); }, RELOAD_MS);
  }

  function connect() {
    const source = new EventSource("/board/stream");
    source.addEventListener("open", () => setLive("open", "实时更新中"));
    source.addEventListener("status", changed);
    source.addEventListener("reset", changed);
    source.addEventListener("error", () => setLive("error", "实时连接中断，正在重连…"));
  }

  document.addEventListener("DOMContentLoaded", connect);
  window.casestoreLive = { changes: () => changes };
})();
