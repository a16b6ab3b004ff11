/* Hand-written SVG charts for the dashboard: grouped columns and horizontal bars.
   No library, no build step. Every chart is an <svg role="img"> with a <title> and a
   text summary, and each bar has its own <title> (hover / screen readers). */
"use strict";
window.CasestoreCharts = (function () {
  const NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function frame(width, height, label) {
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label,
      preserveAspectRatio: "xMidYMid meet",
    });
    root.append(svg("title", {}, label));
    return root;
  }

  /* Grouped columns: categories along x, one column per series; values in [0, max]. */
  function columns(container, opts) {
    const { categories, series, label } = opts;
    const max = opts.max || Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
    const fmt = opts.format || ((v) => String(v));
    const W = 720, H = 260, left = 48, right = 12, top = 14, bottom = 46;
    const plotW = W - left - right, plotH = H - top - bottom;
    const root = frame(W, H, label);
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      root.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y, y2: y }));
      root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11 }, fmt((max * i) / 4)));
    }
    root.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: top + plotH, y2: top + plotH }));
    const groupW = plotW / Math.max(1, categories.length);
    const barW = Math.max(3, Math.min(28, (groupW * 0.8) / series.length));
    categories.forEach((cat, i) => {
      const x0 = left + i * groupW + (groupW - barW * series.length) / 2;
      series.forEach((s, j) => {
        const v = s.values[i];
        if (v === null || v === undefined) return;
        const h = (plotH * Math.min(v, max)) / max;
        const bar = svg("rect", {
          x: x0 + j * barW, y: top + plotH - h, width: barW - 2, height: Math.max(h, 0.5),
          fill: s.color, "data-series": s.name, "data-category": cat, "data-value": v,
        });
        bar.append(svg("title", {}, `${cat} · ${s.name}：${fmt(v)}`));
        root.append(bar);
      });
      const every = Math.ceil(categories.length / 12);
      if (i % every === 0) {
        root.append(svg("text", {
          x: left + i * groupW + groupW / 2, y: H - bottom + 16, "text-anchor": "middle", "font-size": 11,
        }, cat));
      }
    });
    container.replaceChildren(root);
    return root;
  }

  /* Horizontal bars, one row per item (already sorted by the caller). */
  function bars(container, opts) {
    const { rows, label, color } = opts;
    const max = opts.max || Math.max(1, ...rows.map((r) => r.value || 0));
    const fmt = opts.format || ((v) => String(v));
    const rowH = 24, left = 150, right = 64, W = 560;
    const H = Math.max(rowH, rows.length * rowH) + 8;
    const root = frame(W, H, label);
    rows.forEach((r, i) => {
      const y = 4 + i * rowH;
      const w = r.value === null || r.value === undefined ? 0 : ((W - left - right) * Math.min(r.value, max)) / max;
      root.append(svg("text", { x: left - 8, y: y + 16, "text-anchor": "end", "font-size": 12 }, r.label));
      const bar = svg("rect", {
        x: left, y: y + 4, width: Math.max(w, 0.5), height: rowH - 8,
        fill: r.color || color || "#2f6ea8", "data-label": r.label, "data-value": r.value,
      });
      bar.append(svg("title", {}, `${r.label}：${r.value === null ? "—" : fmt(r.value)}`));
      root.append(bar);
      root.append(svg("text", { x: left + w + 6, y: y + 16, "font-size": 12 },
        r.value === null || r.value === undefined ? "—" : fmt(r.value)));
    });
    container.replaceChildren(root);
    return root;
  }

  return { columns, bars };
})();
