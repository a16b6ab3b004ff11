/* Staff dashboard: compliance and evaluation panels, the as-of date picker, sign-in.
   Every panel is loaded as of the chosen moment (the end of the picked day, UTC+8). The
   bearer token is kept in this page's memory only and sent as a header: never stored,
   never read from the address (a token in a URL ends up in logs and history). */
"use strict";
(function () {
  const D = window.CasestoreDash;
  const { L, $, state, api, viewParams, setStatus, describeError, unavailable, pick, rate, kpi, table, barCell } = D;
  const { el, token, claims, signIn } = D;
  const C = window.CasestoreCharts;
  const F = window.CasestoreFlags;
  const P = window.CasestorePractice;
  const COLORS = { promised: "#2f6ea8", statutory: "#1b7a3e", bad: "#b3261e" };

  /* ---------------------------------------------------------------- compliance */

  /* One group of GET /compliance/summary?group_by=...: {key, decided, open, promised_rate,
     statutory_rate, avg_working_days_used, deemed_accepted, ...}. */
  function group(g) {
    return {
      key: String(pick(g, "key") ?? ""),
      decided: pick(g, "decided") ?? 0,
      open: pick(g, "open") ?? 0,
      promised: rate(pick(g, "promised_rate")),
      statutory: rate(pick(g, "statutory_rate")),
      avgDays: pick(g, "avg_working_days_used"),
      deemed: pick(g, "deemed_accepted") ?? 0,
    };
  }

  function groups(summary) { return (pick(summary, "groups") || []).map(group); }

  const GROUP_HEADERS = [
    { label: "名称" }, { label: "已办结", num: true }, { label: "在办", num: true },
    { label: "承诺时限内", num: true }, { label: "" }, { label: "法定时限内", num: true },
    { label: "平均用时（工作日）", num: true },
  ];

  function groupLine(g, names) {
    const name = names && names[g.key];
    return el("tr", { "data-key": g.key },
      el("td", { text: name ? `${name}（${g.key}）` : L.label(L.windows, g.key) }),
      el("td", { class: "num", text: g.decided }),
      el("td", { class: "num", text: g.open }),
      el("td", { class: "num", text: L.pct(g.promised) }),
      barCell(g.promised, "good"),
      el("td", { class: "num", text: L.pct(g.statutory) }),
      el("td", { class: "num", text: g.avgDays === null ? "—" : Number(g.avgDays).toFixed(1) }));
  }

  function renderCompliance([byItem, byWindow, byMonth]) {
    const t = group(pick(byItem, "total") || {});
    $("compliance-kpis").replaceChildren(
      kpi("已办结件", String(t.decided), "decided"),
      kpi("承诺时限内办结率", L.pct(t.promised), "promised"),
      kpi("法定时限内办结率", L.pct(t.statutory), "statutory"),
      kpi("平均用时（工作日）", t.avgDays === null ? "—" : Number(t.avgDays).toFixed(1), "avg"),
      kpi("在办件", String(t.open), "open"),
      kpi("视为受理", String(t.deemed), "deemed"),
    );
    const months = groups(byMonth).filter((m) => m.key).sort((a, b) => a.key.localeCompare(b.key));
    C.columns($("month-chart"), {
      label: "按月办结及时率：" + months.map((m) => `${m.key} 承诺 ${L.pct(m.promised)}，法定 ${L.pct(m.statutory)}`).join("；"),
      categories: months.map((m) => m.key),
      series: [
        { name: "承诺时限内", color: COLORS.promised, values: months.map((m) => m.promised) },
        { name: "法定时限内", color: COLORS.statutory, values: months.map((m) => m.statutory) },
      ],
      max: 1,
      format: (v) => Math.round(v * 100) + "%",
    });
    table($("by-item"), GROUP_HEADERS, groups(byItem).map((g) => groupLine(g, state.itemNames)));
    table($("by-window"), GROUP_HEADERS, groups(byWindow).map((g) => groupLine(g, null)));
  }

  /* ---------------------------------------------------------------- evaluations */

  /* GET /evaluations/summary: overall stats {completed, evaluated, participation_rate,
     good_rate, bad_reviews, handled_on_time, ...} and the window ranking (rank 1 = 红旗窗口). */
  function renderEvaluations(summary) {
    const t = pick(summary, "summary", "total") || summary;
    const bad = pick(t, "bad_reviews") ?? 0;
    const onTime = pick(t, "handled_on_time") ?? 0;
    $("evaluation-kpis").replaceChildren(
      kpi("参评率", L.pct(rate(pick(t, "participation_rate"))), "participation"),
      kpi("好评率", L.pct(rate(pick(t, "good_rate"))), "good"),
      kpi("已评价", String(pick(t, "evaluated") ?? "—"), "evaluated"),
      kpi("差评", String(bad), "bad"),
      kpi("差评按时整改率", bad ? L.pct(onTime / bad) : "—", "handled"),
    );
    const ranking = (pick(summary, "ranking", "window_ranking") || []).map((w) => ({
      rank: pick(w, "rank"),
      window: String(pick(w, "window", "key") ?? ""),
      evaluated: pick(w, "evaluated") ?? 0,
      good: rate(pick(w, "good_rate")),
      bad: pick(w, "bad_reviews") ?? 0,
      participation: rate(pick(w, "participation_rate")),
    }));
    C.bars($("ranking-chart"), {
      label: "窗口好评率排名：" + ranking.map((w) => `${w.rank ?? "-"} ${L.label(L.windows, w.window)} ${L.pct(w.good)}`).join("；"),
      rows: ranking.map((w) => ({
        label: `${w.rank ?? "-"}. ${L.label(L.windows, w.window)}`,
        value: w.good,
        color: w.rank === 1 ? COLORS.bad : COLORS.statutory,
      })),
      max: 1,
      format: (v) => (v * 100).toFixed(1) + "%",
    });
    table($("ranking"), [
      { label: "名次", num: true }, { label: "窗口" }, { label: "已评价", num: true }, { label: "参评率", num: true },
      { label: "好评率", num: true }, { label: "差评", num: true }, { label: "" },
    ], ranking.map((w) => el("tr", { "data-window": w.window },
      el("td", { class: "num", text: w.rank ?? "—" }), el("td", { text: L.label(L.windows, w.window) }),
      el("td", { class: "num", text: w.evaluated }), el("td", { class: "num", text: L.pct(w.participation) }),
      el("td", { class: "num", text: L.pct(w.good) }), el("td", { class: "num", text: w.bad }),
      el("td", { text: w.rank === 1 ? "红旗窗口" : "" }))));
  }

  /* ---------------------------------------------------------------- loading */

  async function loadPanel(container, render, fetchData) {
    try {
      render(await fetchData());
      return null;
    } catch (err) {
      unavailable(container, err);
      return err;
    }
  }

  async function loadAll() {
    if (!token()) {
      setStatus("请先登录：粘贴工作人员令牌（命令 casestore token --staff 工号；权限来自授权记录）。");
      return;
    }
    const load = ++state.loads;
    state.verify = null;
    setStatus(state.asOf ? `正在加载 ${state.asOf} 24:00 时的数据…` : "正在加载实时数据…");
    if (Object.keys(state.itemNames).length === 0) {
      try {
        for (const item of await api("/items")) state.itemNames[item.code] = item.name;
      } catch (err) { /* names are a nicety; codes still show */ }
    }
    if (state.asOf) {
      try {
        setStatus(`正在准备 ${state.asOf} 24:00 时的视图（每个日期首次需重建，请稍候）…`);
        state.target = (await api("/dashboard/as-of", { day: state.asOf }, "POST")).target;
      } catch (err) {
        if (load !== state.loads) return;
        setStatus(`无法查看 ${state.asOf} 的历史视图：${describeError(err)}`, true);
        document.body.dataset.loaded = String(load);
        return;
      }
    }
    const errors = await Promise.all([
      loadPanel($("compliance-kpis"), renderCompliance, () => Promise.all(["item", "window", "month"].map(
        (g) => api("/compliance/summary", { group_by: g, ...viewParams("until") })))),
      loadPanel($("evaluation-kpis"), renderEvaluations, () => api("/evaluations/summary", viewParams("today"))),
      loadPanel($("flags"), F.show, () => api("/supervision/flags", { limit: 10000, ...viewParams("today") })),
      loadPanel($("windows-table"), P.show, P.fetchAll),
    ]);
    if (load !== state.loads) return; // a newer load started meanwhile
    state.loaded = load;
    document.body.dataset.loaded = String(load);
    document.body.dataset.asOf = state.asOf || "";
    const failed = errors.filter(Boolean);
    const scope = state.asOf ? `历史时点：${state.asOf} 24:00（北京时间），各面板均为该时点的状态` : "实时数据";
    setStatus(failed.length ? `${scope}；部分面板加载失败：${describeError(failed[0])}` : scope, failed.length > 0);
  }

  /* ---------------------------------------------------------------- controls */

  function showIdentity() {
    const t = token();
    const c = t ? claims(t) : null;
    $("login-form").hidden = Boolean(t);
    $("who").hidden = !t;
    $("logout").hidden = !t;
    $("who").textContent = c ? `工号 ${c.sub}` : "";
  }

  function start() {
    const params = new URLSearchParams(location.search);
    if (params.get("token")) { // never used: only wiped from the address bar and history
      params.delete("token");
      history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
    }
    if (/^\d{4}-\d{2}-\d{2}$/.test(params.get("as_of") || "")) state.asOf = params.get("as_of");
    // Past days only (a finished day never changes); today is the live view.
    const yesterday = new Date(Date.now() - 86400000);
    $("as-of-date").max = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(yesterday);
    if (state.asOf) $("as-of-date").value = state.asOf;
    $("login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim();
      if (!t) return;
      signIn(t, $("purpose").value.trim());
      $("token").value = "";
      showIdentity();
      loadAll();
    });
    $("logout").addEventListener("click", () => {
      signIn("", "");
      location.replace(location.pathname); // a clean page: no figures left on screen
    });
    $("asof-form").addEventListener("submit", (e) => {
      e.preventDefault();
      state.asOf = $("as-of-date").value || null;
      loadAll();
    });
    $("as-of-now").addEventListener("click", () => {
      state.asOf = null;
      $("as-of-date").value = "";
      loadAll();
    });
    showIdentity();
    loadAll();
  }

  window.casestoreDashboard = { state, loadAll };
  start();
})();
