// Draws the surplus-retained chart with the locally served Plotly: one stacked bar per hospital, money retained in
// agreement years that ended and, apart, provisional amounts of years still running, stacked on the surplus base
// that was not retained. Clicking a bar opens the
// hospital's rows (the chart's "links", in the hospitals' order).
(function () {
  "use strict";
  var el = document.getElementById("surplus-chart");
  if (!window.Plotly || !el) {
    return;
  }
  var d = JSON.parse(el.getAttribute("data-chart"));
  var hover = "%{x}<br>%{fullData.name}: ¥%{y:,.2f}<extra></extra>";
  var traces = [
    { type: "bar", name: d.names.final, x: d.hospitals, y: d.final, marker: { color: "#0b5a7a" }, hovertemplate: hover },
    { type: "bar", name: d.names.provisional, x: d.hospitals, y: d.provisional, marker: { color: "#9cc3d5" }, hovertemplate: hover },
    { type: "bar", name: d.names.not_retained, x: d.hospitals, y: d.not_retained, marker: { color: "#d5dbe0" }, hovertemplate: hover },
  ];
  window.Plotly.newPlot(
    el,
    traces,
    {
      barmode: "stack",
      height: 320,
      margin: { l: 72, r: 16, t: 8, b: 64 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: 'system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif', size: 12 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      bargap: d.hospitals.length < 3 ? 0.6 : 0.3,
      xaxis: { automargin: true, fixedrange: true },
      yaxis: { title: { text: d.names.axis }, tickprefix: "¥", automargin: true, fixedrange: true, gridcolor: "#e3e7eb" },
    },
    { displayModeBar: false, responsive: true }
  );
  el.on("plotly_click", function (event) {
    var point = event.points && event.points[0];
    if (point && d.links[point.pointIndex]) {
      window.location.href = d.links[point.pointIndex];
    }
  });
})();
