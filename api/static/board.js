/* Hall status board: /board/cases for the rows, /board/stream (EventSource) for live changes.
   Public page: no token, no personal data. Optional ?window=W01 shows one window only. */
"use strict";
(function () {
  const L = window.CasestoreLabels;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const onlyWindow = /^[0-9A-Za-z_-]{1,64}$/.test(params.get("window") || "") ? params.get("window") : null;
  const ROTATE_MS = 15000;
  const FEED_MAX = 12;
  const FEED_HISTORY = 40;
  const state = { rows: [], items: {}, page: 0, pages: 1, position: 0, source: null, refreshTimer: null };
  const timeFmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const dateFmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "long", day: "numeric", weekday: "short",
  });

  const shortDate = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", month: "numeric", day: "numeric",
  });

  function tick() {
    const now = new Date();
    $("clock").textContent = dateFmt.format(now) + " " + timeFmt.format(now);
  }

  function badge(row) {
    if (row.paused) return L.el("span", { class: "badge paused", text: L.warnings.paused });
    if (row.warning === "red") return L.el("span", { class: "badge red", text: L.warnings.red });
    if (row.warning === "yellow") return L.el("span", { class: "badge yellow", text: L.warnings.yellow });
    if (row.warning === "green") return L.el("span", { class: "badge ok", text: L.warnings.green });
    return L.el("span", { class: "badge none", text: "—" });
  }

  function remainingText(row) {
    if (row.remaining === null || row.remaining === undefined) return "—";
    if (row.remaining < 0) return "超 " + -row.remaining;
    return String(row.remaining);
  }

  function rowNode(row) {
    const tr = L.el(
      "tr",
      { "data-case-no": row.case_no, "data-warning": row.warning || "", "data-stage": row.stage },
      L.el("td", { class: "case-no", text: row.case_no }),
      L.el("td", { class: "item", text: row.item_name || row.item_code, title: row.item_name }),
      L.el("td", { class: "window", text: L.label(L.windows, row.window) }),
      L.el("td", { class: "stage", text: L.label(L.stages, row.stage) }),
      L.el("td", { class: "num remaining", text: remainingText(row) }),
      L.el("td", { class: "warning" }, badge(row)),
    );
    return tr;
  }

  function pageSize() {
    const section = document.querySelector("section.cases");
    const table = $("cases");
    const head = table.tHead ? table.tHead.offsetHeight : 40;
    const sample = $("case-rows").querySelector("tr");
    const rowH = sample && sample.offsetHeight > 0 ? sample.offsetHeight : 44;
    const room = section.clientHeight - (table.offsetTop - section.offsetTop) - head - 40;
    return Math.max(3, Math.floor(room / rowH));
  }

  function showPage() {
    const size = pageSize();
    state.pages = Math.max(1, Math.ceil(state.rows.length / size));
    if (state.page >= state.pages) state.page = 0;
    const trs = $("case-rows").querySelectorAll("tr[data-case-no]");
    trs.forEach((tr, i) => { tr.hidden = Math.floor(i / size) !== state.page; });
    $("pager").textContent = state.rows.length === 0 ? "" :
      `共 ${state.rows.length} 件 · 第 ${state.page + 1}/${state.pages} 页（每 ${ROTATE_MS / 1000} 秒翻页）`;
  }

  function render(data) {
    state.rows = data.rows;
    state.items = data.items || {};
    state.position = data.position;
    $("count-open").textContent = data.counts.open;
    $("count-yellow").textContent = data.counts.yellow;
    $("count-red").textContent = data.counts.red;
    $("count-paused").textContent = data.counts.paused;
    $("as-of").textContent = data.today + " " + timeFmt.format(new Date());
    const body = $("case-rows");
    const flashing = new Set([...body.querySelectorAll("tr.flash")].map((tr) => tr.dataset.caseNo));
    const nodes = data.rows.map((row) => {
      const tr = rowNode(row);
      if (flashing.has(row.case_no)) tr.classList.add("flash");
      return tr;
    });
    if (nodes.length === 0) nodes.push(L.el("tr", {}, L.el("td", { colspan: 6, class: "empty", text: "暂无在办件" })));
    body.replaceChildren(...nodes);
    showPage();
  }

  async function refresh() {
    const url = "/board/cases" + (onlyWindow ? "?window=" + encodeURIComponent(onlyWindow) : "");
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error("board " + response.status);
    render(await response.json());
  }

  /* At most one refresh per half second however busy the stream (throttle, not debounce:
     a steady stream of events must not postpone the refresh forever). */
  function scheduleRefresh() {
    if (state.refreshTimer) return;
    state.refreshTimer = setTimeout(() => {
      state.refreshTimer = null;
      refresh().catch(showError);
    }, 500);
  }

  function showError(err) {
    setLive("error", "数据暂不可用，正在重试…");
    console.error(err);
  }

  function setLive(kind, text) {
    $("live").dataset.state = kind;
    $("live-text").textContent = text;
  }

  function feedTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    const day = dateFmt.format(d) === dateFmt.format(new Date()) ? "" : shortDate.format(d) + " ";
    return day + timeFmt.format(d);
  }

  function onStatus(message) {
    const ev = JSON.parse(message.data);
    if (onlyWindow && ev.window !== onlyWindow) return;
    const item = state.items[ev.item_code] || ev.item_code;
    const what = `${ev.case_no} ${item} · ${L.label(L.events, ev.event)}` +
      (ev.stage ? ` → ${L.label(L.stages, ev.stage)}` : "");
    const li = L.el("li", { "data-case-no": ev.case_no, "data-event": ev.event, "data-position": ev.position },
      L.el("span", { class: "when", text: feedTime(ev.recorded_at) }),
      L.el("span", { class: "what", text: what }));
    const feed = $("feed");
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    if (ev.position <= state.position) return; // history for the feed: the rows have it already
    const tr = $("case-rows").querySelector(`tr[data-case-no="${CSS.escape(ev.case_no)}"]`);
    if (tr && ev.stage) {
      tr.dataset.stage = ev.stage;
      tr.querySelector("td.stage").textContent = L.label(L.stages, ev.stage);
    }
    if (tr) {
      tr.classList.remove("flash");
      void tr.offsetWidth; // restart the animation
      tr.classList.add("flash");
    }
    scheduleRefresh();
  }

  function connect() {
    // Start a little before the rows' position so the feed opens with recent history.
    const source = new EventSource("/board/stream?after=" + Math.max(0, state.position - FEED_HISTORY));
    state.source = source;
    source.addEventListener("open", () => setLive("open", "实时更新中"));
    source.addEventListener("status", onStatus);
    // The stream reaches back a little only; further back it says "reset": reload the rows.
    source.addEventListener("reset", () => refresh().catch(showError));
    source.addEventListener("error", () => {
      setLive("error", "实时连接中断，正在重连…");
    });
  }

  async function start() {
    tick();
    setInterval(tick, 1000);
    try {
      await refresh();
    } catch (err) {
      showError(err);
    }
    connect();
    setInterval(() => { state.page = (state.page + 1) % state.pages; showPage(); }, ROTATE_MS);
    setInterval(() => refresh().catch(showError), 60000); // remaining days move at midnight
    window.addEventListener("resize", showPage);
  }

  window.casestoreBoard = { state, refresh };
  start();
})();
