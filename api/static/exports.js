/* Dashboard exports: the overdue list, the flags (with the panel's rule and state filter)
   and the 红旗窗口 ranking as CSV or XLSX, for the live view or the chosen "as of" day;
   and the reports (月度通报 for the chosen month, 年度总结 for its year) as PDF or XLSX.
   The file is fetched with the bearer token (and an inspector's stated purpose) and saved
   from a blob (a plain link could not carry them, and a token never goes in a URL). */
"use strict";
(function () {
  const D = window.CasestoreDash;
  const { $, token, purpose, viewParams, describeError, ApiError } = D;
  const DAY_PARAM = { overdue: "today", flags: "today", ranking: "today" };

  /* Fetch with the staff token (and an inspector's purpose) and save the body from a blob. */
  async function save(url, fallbackName) {
    const headers = { Authorization: "Bearer " + token() };
    if (purpose()) headers["X-Purpose"] = encodeURIComponent(purpose());  // inspectors state it
    const response = await fetch(url, { headers });
    if (!response.ok) {
      const type = response.headers.get("content-type") || "";
      throw new ApiError(response.status, type.includes("json") ? await response.json() : null);
    }
    const blob = await response.blob();
    const disposition = response.headers.get("content-disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallbackName;
    const link = D.el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    return { name, response };
  }

  async function download(kind, format) {
    const url = new URL("/exports/" + kind, location.origin);
    const params = { format, ...viewParams(DAY_PARAM[kind]) };
    if (kind === "flags") {
      const rule = $("flag-rule").value;
      if (rule) params.rule = rule;
      if ($("flag-state").value === "open") params.open = "true";
    }
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) url.searchParams.set(k, v);
    const status = $("export-status");
    status.textContent = "正在导出…";
    try {
      const { name, response } = await save(url, kind + "." + format);
      status.textContent = `已导出 ${name}（${response.headers.get("x-rows") || "?"} 行）`;
    } catch (err) {
      status.textContent = "导出失败：" + describeError(err);
    }
  }

  /* The last finished month (YYYY-MM) in the browser's calendar: the default report. */
  function lastFinishedMonth() {
    const now = new Date();
    const first = new Date(now.getFullYear(), now.getMonth() - 1, 1);
    return `${first.getFullYear()}-${String(first.getMonth() + 1).padStart(2, "0")}`;
  }

  async function report(kind, format) {
    const status = $("report-status");
    const month = $("report-month").value;
    if (!/^\d{4}-\d{2}$/.test(month)) {
      status.textContent = "请先选择月份（YYYY-MM）";
      return;
    }
    const url = new URL("/reports/" + kind, location.origin);
    if (kind === "year") url.searchParams.set("year", month.slice(0, 4));
    else url.searchParams.set("month", month);
    url.searchParams.set("format", format);
    const label = kind === "year" ? month.slice(0, 4) + " 年度总结" : month + " 月度通报";
    status.textContent = `正在生成 ${label}…`;
    try {
      const { name } = await save(url, `report-${kind}.${format}`);
      status.textContent = `已下载 ${name}`;
    } catch (err) {
      status.textContent = "下载失败：" + describeError(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-export]")) {
      button.addEventListener("click", () => download(button.dataset.export, button.dataset.format));
    }
    $("report-month").value = lastFinishedMonth();
    for (const button of document.querySelectorAll("button[data-report]")) {
      button.addEventListener("click", () => report(button.dataset.report, button.dataset.format));
    }
  });
})();
