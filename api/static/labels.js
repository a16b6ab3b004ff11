/* Chinese labels shared by the hall board and the dashboard (one place to translate). */
"use strict";
window.CasestoreLabels = (function () {
  const stages = {
    received: "已收件", supplementing: "补正中", accepted: "已受理", under_review: "审查中",
    decided: "已决定（准予）", denied: "不予许可", sealed: "已盖章待送达", delivered: "已送达",
    rejected: "不予受理", withdrawn: "已撤回",
  };
  const events = {
    Submitted: "申请收件", SupplementRequested: "一次性补正告知", SupplementReceived: "补正材料收齐",
    Accepted: "受理", Rejected: "不予受理", Withdrawn: "撤回", ReviewRecorded: "审查意见",
    SurveyScheduled: "踏勘安排", SurveyConducted: "联合踏勘结论", ClockSuspended: "特别程序开始",
    ClockResumed: "特别程序结束", ExtensionGranted: "延长审批", Decided: "作出决定", Sealed: "盖章",
    Delivered: "送达", Evaluated: "好差评", BadReviewHandled: "差评核实整改",
    FollowUpRecorded: "回访", Corrected: "更正", ServiceProvided: "惠民服务", Published: "事项发布", Revised: "事项修订",
    Opened: "一件事受理",
  };
  const clocks = {
    acceptance: "受理时限", "decision.promised": "承诺办结时限", "decision.statutory": "法定办结时限",
    delivery: "送达时限", survey: "踏勘时限", bad_review: "差评整改时限",
  };
  const warnings = { red: "红牌 · 已超期", yellow: "黄牌 · 临近时限", green: "正常", paused: "暂停计时" };
  const rules = {
    S01: "超承诺办结时限", S02: "超法定办结时限", S03: "5个工作日内未作受理决定（视为受理）",
    S04: "多次补正告知（一次性告知未落实）", S05: "补正告知超过5个工作日",
    S06: "事后补录（录入时间远晚于业务时间）", S07: "时间倒置（后一环节早于前一环节）",
    S08: "应踏勘未踏勘即作决定", S09: "踏勘结论缺少三方或两名工作人员",
    S10: "超期延长、重复延长或非签批人延长", S11: "不允许的暂停计时类型",
    S12: "准予决定后超过10个工作日送达", S13: "差评未按时核实整改",
    S14: "目录承诺时限超过法定时限", S15: "受理与办结仅隔数秒（非即办件）",
    S17: "特别程序未按时书面告知申请人所需时间", S18: "差评未按时回访",
    S19: "免费或限价惠民服务超标准收费",
  };
  const windows = { online: "网上办理" };
  const severities = { high: "严重", medium: "一般", low: "提示" };
  const roles = {
    clerk: "窗口人员", reviewer: "审查", approver: "签批", surveyor: "踏勘", sealer: "印章管理",
    dispatcher: "送达", auditor: "审计", inspector: "纪检监察", admin: "管理员",
    applicant: "申请人", system: "系统",
  };
  function label(map, key) {
    if (key === null || key === undefined || key === "") return "—";
    return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : String(key);
  }
  function pct(x) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    return (x * 100).toFixed(1) + "%";
  }
  /* A DOM element with text children only (never innerHTML, so no markup injection). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  return { stages, events, windows, clocks, warnings, rules, severities, roles, label, pct, el };
})();
