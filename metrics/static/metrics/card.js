/* The Retractions card: show the from–to fields for a custom interval, draw the daily chart. */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function wireControls(form) {
    var period = form.querySelector("[name='card-period']");
    var custom = form.querySelector(".rc-custom");
    if (!period || !custom) return;
    function sync() {
      var on = period.value === "custom";
      custom.hidden = !on;
      custom.querySelectorAll("input").forEach(function (input) { input.required = on; });
    }
    period.addEventListener("change", sync);
    sync();
  }

  function drawChart(canvas, series) {
    if (typeof window.Chart === "undefined") return;
    var text = cssVar("--body-quiet-color", "#666");
    var grid = cssVar("--hairline-color", "#e8e8e8");
    var chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: series.labels,
        datasets: [
          { label: "Succeeded", data: series.succeeded, backgroundColor: "#3d9970", stack: "day" },
          { label: "Failed", data: series.failed, backgroundColor: "#d9534f", stack: "day" }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: { color: text, autoSkip: true, maxRotation: 0 }, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { color: text, precision: 0 }, grid: { color: grid } }
        },
        plugins: {
          legend: { position: "bottom", labels: { color: text } },
          title: { display: true, text: "Retractions per day (UTC)", color: text }
        }
      }
    });
    canvas.dataset.drawn = "true";
    return chart;
  }

  function init() {
    var card = document.getElementById("retractions-card");
    if (!card) return;
    var form = document.getElementById("retractions-card-form");
    if (form) wireControls(form);
    var canvas = document.getElementById("retractions-chart");
    var data = document.getElementById("retractions-series");
    if (canvas && data) drawChart(canvas, JSON.parse(data.textContent));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
