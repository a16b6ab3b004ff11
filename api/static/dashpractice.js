/* Dashboard: windows and 群众诉求/咨询 (issue 17): each window's type, its 党员示范岗, the
   enquiries it took (received, open, late: S16) and who leads the hall today (领导带班). */
"use strict";
window.CasestorePractice = (function () {
  const { L, el, $, state, api, viewParams, table } = window.CasestoreDash;
  const TYPES = {
    general: "综合窗口", project: "项目建设综合窗口", green_channel: "招商引资绿色通道",
    leader: "领导带班窗口", volunteer: "志愿者服务站",
  };

  function today() {
    return state.asOf || new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
  }

  async function fetchAll() {
    const day = today();
    const target = state.asOf ? { target: state.target } : {};
    return Promise.all([
      api("/windows", target),
      api("/enquiries/summary", { by_window: "true", ...viewParams("today") }),
      api("/windows/rota", { since: day, until: day, ...target }),
    ]);
  }

  function show([windows, enquiries, rota]) {
    const byWindow = {};
    for (const g of enquiries.groups || []) byWindow[g.key || ""] = g;
    const codes = new Set([...(windows.windows || []).map((w) => w.code), ...Object.keys(byWindow).filter(Boolean)]);
    const known = Object.fromEntries((windows.windows || []).map((w) => [w.code, w]));
    const totals = { received: 0, open: 0, late: 0 };
    const rows = [...codes].sort().map((code) => {
      const w = known[code] || {};
      const e = byWindow[code] || { received: 0, open: 0, late: 0 };
      totals.received += e.received; totals.open += e.open; totals.late += e.late;
      const members = (w.party_members || []).map((m) => m.name).join("、");
      return el("tr", { "data-window": code },
        el("td", { text: code }),
        el("td", { text: w.name || "—" }),
        el("td", { text: L.label(TYPES, w.window_type) }),
        el("td", { text: members ? "党员示范岗 · " + members : "—" }),
        el("td", { class: "num", text: String(e.received) }),
        el("td", { class: "num", text: String(e.open) }),
        el("td", { class: "num" + (e.late ? " late" : ""), text: String(e.late) }));
    });
    table($("windows-table"), [
      { label: "窗口" }, { label: "名称" }, { label: "类型" }, { label: "党员示范岗" },
      { label: "诉求/咨询", num: true }, { label: "未办结", num: true }, { label: "超时（S16）", num: true },
    ], rows);
    const leaders = (rota.rota || []).filter((r) => known[r.window_code] && known[r.window_code].window_type === "leader");
    $("duty-today").textContent = leaders.length
      ? `${today()} 带班领导：` + leaders.map((r) => `${r.staff_name}（${r.window_code}）`).join("、")
      : `${today()} 无带班安排`;
    $("enquiry-kpis").replaceChildren(
      window.CasestoreDash.kpi("群众诉求/咨询", String(totals.received), "enquiries"),
      window.CasestoreDash.kpi("未办结", String(totals.open), "enquiries-open"),
      window.CasestoreDash.kpi("超时（S16）", String(totals.late), "enquiries-late"));
  }

  return { fetchAll, show };
})();
