/* Dashboard exports: the overdue list, the flags (with the panel's rule and state filter)
   and the 红旗窗口 ranking as CSV or XLSX, for the live view or the chosen "as of" day.
   The file is fetched with the bearer token (and an inspector's stated purpose) and saved
   from a blob (a plain link could not carry them, and a token never goes in a URL). */
"use strict";
(function () {
  const D = window.CasestoreDash;
  const { $, token, purpose, viewParams, describeError, ApiError } = D;
  const DAY_PARAM = { overdue: "today", flags: "today", ranking: "today" };

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
      const headers = { Authorization: "Bearer " + token() };
      if (purpose()) headers["X-Purpose"] = encodeURIComponent(purpose());  // inspectors state it
      const response = await fetch(url, { headers });
      if (!response.ok) {
        const type = response.headers.get("content-type") || "";
        throw new ApiError(response.status, type.includes("json") ? await response.json() : null);
      }
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || kind + "." + format;
      const link = D.el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      status.textContent = `已导出 ${name}（${response.headers.get("x-rows") || "?"} 行）`;
    } catch (err) {
      status.textContent = "导出失败：" + describeError(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-export]")) {
      button.addEventListener("click", () => download(button.dataset.export, button.dataset.format));
    }
  });
})();
