// Draws the audit records per day as a bar chart with the locally served Plotly; the data sits on the element.
(function () {
  "use strict";
  var el = document.getElementById("audit-chart");
  if (!el || !window.Plotly) {
    return;
  }
  var data = JSON.parse(el.getAttribute("data-chart"));
  var trace = {
    type: "bar",
    x: data.x,
    y: data.y,
    marker: { color: "#0b5a7a" },
    hovertemplate: "%{x}<br>%{y}<extra></extra>",
  };
  var layout = {
    margin: { l: 48, r: 16, t: 8, b: 48 },
    height: 260,
    bargap: 0.25,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: 'system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif', size: 12 },
    xaxis: { title: { text: data.xTitle }, type: "date", tickformat: "%m-%d", fixedrange: true },
    yaxis: { title: { text: data.yTitle }, rangemode: "tozero", tickformat: "d", fixedrange: true, gridcolor: "#e3e7eb" },
  };
  window.Plotly.newPlot(el, [trace], layout, { displayModeBar: false, responsive: true });
})();
