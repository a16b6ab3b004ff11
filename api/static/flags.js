/* Dashboard: supervision flags (监管预警) and the drill-down to a case's timeline, its
   evidence events (highlighted, with hashes) and the hash-chain status from /audit/verify. */
"use strict";
window.CasestoreFlags = (function () {
  const { L, el, $, state, api, asOfMoment, asOfParam, describeError, unavailable, pick, table, when } = window.CasestoreDash;

  function flagList(data) {
    return Array.isArray(data) ? data : pick(data, "flags", "items", "results") || [];
  }

  function renderFlags() {
    const rule = $("flag-rule").value;
    const all = $("flag-state").value === "all";
    const shown = state.flags.filter((f) => (!rule || f.rule === rule) && (all || !f.cleared_at));
    $("flag-count").textContent = `共 ${shown.length} 条`;
    $("flags").replaceChildren(...shown.map((f) => {
      const button = el("button", {
        type: "button", class: "flag", "data-flag-id": f.id, "data-rule": f.rule,
        "aria-expanded": state.openFlag === f.id ? "true" : "false", "aria-controls": "drill",
      },
      el("span", { class: "rule", text: f.rule }),
      el("span", {}, el("span", { class: "sev " + f.severity, text: L.label(L.severities, f.severity) })),
      el("span", {}, `${L.label(L.rules, f.rule)} · `,
        el("span", { class: "subject", "data-case-id": f.case_id, text: subject(f) }),
        f.item_code && state.itemNames[f.item_code] ? ` · ${state.itemNames[f.item_code]}` : "",
        el("br"), el("span", { class: "muted", text: f.detail || "" })),
      el("span", { class: "cleared", text: `发现 ${when(f.raised_at)}` + (f.cleared_at ? `\n消除 ${when(f.cleared_at)}` : "") }));
      button.addEventListener("click", () => openFlag(f));
      return el("li", {}, button);
    }));
  }

  function subject(f) {
    const no = f.case_no || state.caseNos[f.case_id];
    if (no) return "办件 " + no;
    return f.case_id ? "办件 " + f.case_id.slice(0, 8) + "…" : "目录事项 " + f.item_code;
  }

  /* Flags name cases by id: look their case numbers up (a few at a time, cached). */
  async function resolveCaseNos() {
    const wanted = [...new Set(state.flags.map((f) => f.case_id))]
      .filter((id) => id && !state.caseNos[id]).slice(0, 300);
    for (let i = 0; i < wanted.length; i += 8) {
      await Promise.all(wanted.slice(i, i + 8).map(async (id) => {
        try {
          state.caseNos[id] = (await api(`/cases/${id}`)).case_no;
        } catch (err) { /* keep the short id */ }
      }));
    }
    document.querySelectorAll("#flags .subject[data-case-id]").forEach((node) => {
      const no = state.caseNos[node.dataset.caseId];
      if (no) node.textContent = "办件 " + no;
    });
  }

  function fillRuleOptions() {
    const select = $("flag-rule");
    const current = select.value;
    const rules = [...new Set(state.flags.map((f) => f.rule))].sort();
    select.replaceChildren(el("option", { value: "", text: "全部规则" }),
      ...rules.map((r) => el("option", { value: r, text: `${r} ${L.label(L.rules, r)}` })));
    if (rules.includes(current)) select.value = current;
  }

  async function chainStatus(caseId) {
    if (!state.verify) state.verify = api("/audit/verify");
    const report = await state.verify;
    const mine = (report.findings || []).filter((f) => f.case_id === caseId);
    if (mine.length === 0) {
      return el("span", { class: "chain-ok", text: `哈希链校验通过：该办件无篡改（全库 ${report.events} 个事件，链头位置 ${report.last_position}）` });
    }
    return el("span", { class: "chain-bad", text: `哈希链校验发现 ${mine.length} 处问题：` + mine.map((f) => f.line || f.kind).join("；") });
  }

  async function openFlag(flag) {
    state.openFlag = flag.id;
    document.querySelectorAll("button.flag").forEach((b) => b.setAttribute("aria-expanded", b.dataset.flagId === flag.id ? "true" : "false"));
    const drill = $("drill");
    drill.hidden = false;
    drill.dataset.flagId = flag.id;
    $("drill-title").textContent = `${flag.rule} ${L.label(L.rules, flag.rule)} · 证据事件`;
    $("drill-summary").textContent = (flag.detail || "") + `（证据位置：${(flag.evidence || []).join("、")}）`;
    $("chain-status").replaceChildren("正在校验哈希链…");
    const evidence = new Set((flag.evidence || []).map(Number));
    if (!flag.case_id) {
      table($("timeline"), [{ label: "说明" }], [el("tr", {}, el("td", { text: `目录事项 ${flag.item_code} 的预警，证据位置 ${[...evidence].join("、")}` }))]);
      $("chain-status").replaceChildren("");
      $("drill-title").focus();
      return;
    }
    try {
      const [data, kase] = await Promise.all([
        api(`/cases/${flag.case_id}/timeline`),
        api(`/cases/${flag.case_id}`, asOfParam()).catch(() => null),
      ]);
      if (kase) {
        const item = state.itemNames[kase.item_code] || kase.item_code;
        $("drill-summary").textContent = `办件编号 ${kase.case_no} · ${item} · 窗口 ${L.label(L.windows, kase.window)} · ` +
          `当前环节 ${L.label(L.stages, kase.stage)}。${flag.detail || ""}（证据位置：${[...evidence].join("、")}）`;
      }
      const events = Array.isArray(data) ? data : pick(data, "events", "timeline", "items") || [];
      // The live timeline, cut at the as-of moment: events recorded later did not exist then.
      const limit = state.asOf ? Date.parse(asOfMoment()) : Infinity;
      const shown = events.filter((e) => !e.recorded_at || Date.parse(e.recorded_at) <= limit);
      const chained = shown.some((e) => e.chain_hash);
      const rows = shown.map((e) => {
        const isEvidence = evidence.has(Number(e.position));
        const actor = e.actor || {};
        const who = pick(actor, "name", "staff_id") || pick(e, "actor_staff") || "—";
        const cells = [
          el("td", { class: "num", text: e.position ?? "—" }),
          el("td", { text: (isEvidence ? "【证据】" : "") + L.label(L.events, pick(e, "type", "event_type", "event")) }),
          el("td", { text: `${who}（${L.label(L.roles, pick(actor, "role") || pick(e, "actor_role"))}）` }),
          el("td", { text: when(e.recorded_at) }),
          el("td", { text: e.occurred_at ? when(e.occurred_at) : "—" }),
          el("td", {}, el("code", { class: "hash", text: pick(e, "event_hash") || "—" })),
        ];
        if (chained) cells.push(el("td", {}, el("code", { class: "hash", text: pick(e, "chain_hash") || "—" })));
        return el("tr", { class: isEvidence ? "evidence" : null, "data-position": e.position, "data-evidence": isEvidence ? "true" : null }, ...cells);
      });
      const headers = [
        { label: "位置", num: true }, { label: "事件" }, { label: "经办人" }, { label: "录入时间" },
        { label: "业务时间" }, { label: "事件哈希（SHA-256）" },
      ];
      if (chained) headers.push({ label: "链哈希" });
      table($("timeline"), headers, rows);
      $("drill-title").focus();
      $("chain-status").replaceChildren(await chainStatus(flag.case_id));
    } catch (err) {
      unavailable($("timeline"), err);
      $("chain-status").replaceChildren(describeError(err));
    }
  }

  function show(data) {
    state.flags = flagList(data);
    fillRuleOptions();
    renderFlags();
    resolveCaseNos();
    if (state.openFlag) {
      const flag = state.flags.find((f) => f.id === state.openFlag);
      if (flag) openFlag(flag);
      else $("drill").hidden = true;
    }
  }

  $("flag-rule").addEventListener("change", renderFlags);
  $("flag-state").addEventListener("change", renderFlags);
  return { show, openFlag };
})();
