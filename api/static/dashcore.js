/* Dashboard core: the bearer token (in memory only: never stored, never in a URL), the
   inspector's stated purpose (sent as X-Purpose), API calls with problem+json errors,
   the as-of parameter, and small DOM helpers shared by the panels. */
"use strict";
window.CasestoreDash = (function () {
  const L = window.CasestoreLabels;
  const el = L.el;
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "casestore.token";
  const state = {
    asOf: null, target: null, flags: [], verify: null, openFlag: null, loads: 0, loaded: 0, itemNames: {}, caseNos: {},
  };

  /* ---------------------------------------------------------------- token and fetch */

  let currentToken = "";
  let currentPurpose = "";
  function token() { return currentToken; }
  function purpose() { return currentPurpose; }
  function signIn(t, why) { currentToken = t || ""; currentPurpose = why || ""; }

  function claims(t) {
    try {
      const body = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(escape(atob(body + "===".slice((body.length + 3) % 4))));
      return JSON.parse(json);
    } catch (e) {
      return null;
    }
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail_zh || problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, params, method) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined) url.searchParams.set(k, v);
    const response = await fetch(url, {
      method: method || "GET",
      headers: Object.assign(
        { Accept: "application/json", Authorization: "Bearer " + token() },
        purpose() ? { "X-Purpose": encodeURIComponent(purpose()) } : {},
      ),
    });
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : null;
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  /* The as-of moment: the end of the chosen day in the bureau's zone (UTC+8). */
  function asOfMoment() {
    return state.asOf ? state.asOf + "T23:59:59.999+08:00" : null;
  }

  /* Case queries take ?as_of= (a case is read from its own events). */
  function asOfParam() {
    return state.asOf ? { as_of: asOfMoment() } : {};
  }

  /* Report views as of a past day are named targets built by POST /dashboard/as-of;
     ``day`` names the parameter the endpoint evaluates that day with (until / today). */
  function viewParams(day) {
    return state.asOf ? { target: state.target, [day]: state.asOf } : {};
  }

  function setStatus(text, error) {
    const line = $("status");
    line.replaceChildren(error ? el("span", { class: "err", text }) : text);
    line.classList.toggle("asof", Boolean(state.asOf));
  }

  function describeError(err) {
    if (err instanceof ApiError) {
      if (err.status === 401) return "令牌无效或已过期，请重新登录";
      if (err.status === 403) return "当前角色无权查看：" + err.message;
      if (err.status === 404) return "接口不可用（" + err.message + "）";
      return `请求失败（${err.status}）：${err.message}`;
    }
    return "网络错误：" + err.message;
  }

  function unavailable(container, err) {
    container.replaceChildren(el("p", { class: "unavailable", text: describeError(err) }));
  }

  /* ---------------------------------------------------------------- helpers */

  function pick(obj, ...names) {
    for (const n of names) if (obj && obj[n] !== undefined && obj[n] !== null) return obj[n];
    return null;
  }

  function rate(value) { return value === null || value === undefined ? null : Number(value); }

  function kpi(label, value, id) {
    return el("div", { class: "kpi", "data-kpi": id }, el("div", { class: "n", text: value }), el("div", { class: "label", text: label }));
  }

  function table(node, headers, rows) {
    const head = el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", class: h.num ? "num" : null, text: h.label }))));
    const body = el("tbody", {}, ...rows);
    const caption = node.querySelector("caption");
    node.replaceChildren(...(caption ? [caption] : []), head, body);
  }

  function barCell(value, kind) {
    const width = value === null ? 0 : Math.round(Math.max(0, Math.min(1, value)) * 100);
    const bar = el("div", { class: "bar " + (kind || ""), role: "presentation" });
    bar.style.width = width + "%";
    return el("td", { class: "bar-cell" }, bar);
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return new Intl.DateTimeFormat("zh-CN", {
      timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }).format(d);
  }

  return {
    L, el, $, TOKEN_KEY, state, token, purpose, signIn, claims, ApiError, api, asOfMoment, asOfParam, viewParams,
    setStatus, describeError,
    unavailable, pick, rate, kpi, table, barCell, when,
  };
})();
