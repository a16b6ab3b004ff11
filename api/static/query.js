/* The applicant's page (/query): case number + query code -> progress, deadline,
   missing materials, next step, one rating per visit, the case's proof file.
   Calls only the public API (/public/cases/...); the query code never enters the URL
   the page shows (a QR code on a notice carries the case number only). */
"use strict";
(function () {
  const L = window.CasestoreLabels;
  const $ = (id) => document.getElementById(id);
  let current = null; // { caseNo, code }

  function show(node, on) { node.hidden = !on; }
  function say(node, text) { node.textContent = text; show(node, Boolean(text)); }

  async function problem(resp) {
    try {
      const body = await resp.json();
      return body.detail_zh || body.detail || body.title_zh || body.title || String(resp.status);
    } catch (e) {
      return String(resp.status);
    }
  }

  function render(view) {
    $("r-item").textContent = view.item_name || view.item_code;
    $("r-case-no").textContent = view.case_no;
    $("r-stage").textContent = L.label(L.stages, view.stage);
    $("r-stage").dataset.stage = view.stage;
    $("r-received").textContent = view.received_on;
    const d = view.deadline;
    $("r-deadline-label").textContent = d ? L.label(L.clocks, d.kind) : "办理时限";
    $("r-deadline").textContent = d ? d.due + (d.late ? "（已超期）" : "") : "—";
    $("r-remaining").textContent = !d ? "—"
      : d.paused ? "暂停计时"
      : d.remaining_working_days === null ? "—" : d.remaining_working_days + " 个工作日";
    $("r-next").textContent = view.next_step || "—";
    const missing = $("r-missing");
    missing.replaceChildren(...view.missing.map((m) => L.el("li", { text: m })));
    show($("r-missing-box"), view.missing.length > 0);
    $("r-steps").replaceChildren(...view.steps.map((s) =>
      L.el("li", {}, L.el("time", { text: s.on }), " ", L.label(L.events, s.type))));
    show($("result"), true);
    show($("rate"), !view.evaluated);
    show($("rated"), view.evaluated);
    if (view.bundle) {
      $("rate-note").textContent = "本件属于“一件事”联办，一次办事只评价一次：评价适用于本次联办的全部事项。";
    }
  }

  async function query(caseNo, code) {
    say($("q-error"), "");
    const url = "/public/cases/" + encodeURIComponent(caseNo) + "?code=" + encodeURIComponent(code);
    const resp = await fetch(url, { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      show($("result"), false); show($("rate"), false); show($("rated"), false);
      say($("q-error"), resp.status === 404 ? "办件编号或查询码不正确，请核对后重试。"
        : resp.status === 429 ? "查询失败次数过多，请稍后再试。"
        : "查询失败：" + await problem(resp));
      return;
    }
    current = { caseNo, code };
    render(await resp.json());
  }

  async function rate(event) {
    event.preventDefault();
    const chosen = document.querySelector('input[name="level"]:checked');
    if (!current || !chosen) { say($("rate-msg"), "请选择评价等级。"); return; }
    const url = "/public/cases/" + encodeURIComponent(current.caseNo) + "/evaluate?code=" +
      encodeURIComponent(current.code);
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ level: Number(chosen.value), comment: $("comment").value }),
    });
    if (resp.ok || resp.status === 409) {
      await query(current.caseNo, current.code);
      return;
    }
    say($("rate-msg"), "提交失败：" + await problem(resp));
  }

  async function proof() {
    if (!current) return;
    const url = "/public/cases/" + encodeURIComponent(current.caseNo) + "/proof?code=" +
      encodeURIComponent(current.code);
    const resp = await fetch(url, { headers: { Accept: "application/json" } });
    if (!resp.ok) {
      $("r-proof-msg").textContent = resp.status === 404
        ? "暂无可下载的存证（签名检查点尚未覆盖本件），请稍后再试。" : "下载失败：" + await problem(resp);
      return;
    }
    const blob = new Blob([await resp.text()], { type: "application/json" });
    const a = L.el("a", { href: URL.createObjectURL(blob), download: current.caseNo + "-proof.json" });
    document.body.append(a); a.click(); a.remove();
    $("r-proof-msg").textContent = "已下载。";
  }

  document.addEventListener("DOMContentLoaded", () => {
    const params = new URLSearchParams(window.location.search);
    const fromQr = params.get("case_no");
    if (fromQr) { $("case-no").value = fromQr; $("code").focus(); }
    $("q-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const caseNo = $("case-no").value.trim();
      const code = $("code").value.trim();
      if (!/^[0-9A-Za-z-]{1,64}$/.test(caseNo) || !code) {
        say($("q-error"), "请输入办件编号和查询码。");
        return;
      }
      query(caseNo, code);
    });
    $("rate-form").addEventListener("submit", rate);
    $("r-proof").addEventListener("click", proof);
  });
})();
