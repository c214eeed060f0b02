// Draws the model page's charts with the vendored Chart.js from data the server put in
// <script type="application/json"> blocks (json_script); <canvas data-chart="ID"> names its block.
"use strict";

function lineChart(canvas, data) {
  const datasets = data.series.map((s) => ({
    label: s.label,
    data: s.points.map(([x, y]) => ({ x, y })),
    borderColor: s.color,
    backgroundColor: s.color,
    borderDash: s.dashed ? [6, 4] : [],
    pointRadius: data.kind !== "scatter" && s.points.length > 30 ? 0 : 3,
    showLine: data.kind !== "scatter" || Boolean(s.dashed),
    tension: 0,
  }));
  return new Chart(canvas, {
    type: data.kind === "scatter" ? "scatter" : "line",
    data: { datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      scales: {
        x: { type: data.xlog ? "logarithmic" : "linear", title: { display: true, text: data.x } },
        y: { beginAtZero: true, title: { display: true, text: data.y } },
      },
      plugins: {
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.parsed.y.toFixed(2)} @ ${ctx.parsed.x}` } },
      },
    },
  });
}

function drawCharts() {
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    // Without this script the figure shows its small table (and no empty canvas); with it, the chart.
    const box = canvas.closest(".canvas-box");
    if (box) box.hidden = false;
    lineChart(canvas, JSON.parse(source.textContent));
    canvas.dataset.drawn = "yes";
    const table = canvas.closest("figure") && canvas.closest("figure").querySelector(".chart-table");
    if (table) table.hidden = true;
  });
}

document.addEventListener("DOMContentLoaded", drawCharts);
