// Draws the audit dashboard's charts with the locally served Plotly. Each chart's data sits on its element as JSON:
// {kind: "bars" | "stacked", labels, series: [{name, values, marker?, target?}], axis, rowLinks, links?}.
// Clicking a bar opens the page listing the rows behind it: links[series][point] where the chart has more than one
// row per bar (by source and status, by hospital and kind), else the row's own link (rowLinks[point]).
(function () {
  "use strict";
  if (!window.Plotly) {
    return;
  }
  var COLOURS = ["#0b5a7a", "#5b8fa8", "#c77d00", "#b00020", "#2e7d32", "#6a4c93"];
  var INK = "#1f2a33";

  function traces(d) {
    var out = [];
    d.series.forEach(function (s, i) {
      if (s.marker) {
        out.push({
          type: "scatter", mode: "markers", name: s.name, x: d.labels, y: s.values, meta: i,
          marker: { symbol: "line-ew-open", size: 22, color: INK, line: { width: 3, color: INK } },
        });
      } else {
        out.push({
          type: "bar", name: s.name, x: d.labels, y: s.values, meta: i,
          marker: { color: COLOURS[i % COLOURS.length] },
        });
      }
      if (s.target !== undefined && s.target !== null) {
        out.push({
          type: "scatter", mode: "lines", name: s.name + " " + s.target + "%", x: d.labels, meta: -1,
          y: d.labels.map(function () { return s.target; }),
          line: { dash: "dash", color: COLOURS[i % COLOURS.length] },
        });
      }
    });
    return out;
  }

  function draw(el) {
    var d = JSON.parse(el.getAttribute("data-chart"));
    var layout = {
      barmode: d.kind === "stacked" ? "stack" : "group",
      margin: { l: 48, r: 16, t: 8, b: 96 }, height: 320,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      yaxis: { title: { text: d.axis } },
      font: { family: 'system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif', size: 12 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    };
    window.Plotly.newPlot(el, traces(d), layout, { displaylogo: false, responsive: true });
    el.on("plotly_click", function (event) {
      var point = event.points[0];
      var series = point.data.meta;
      var url = null;
      if (d.links && series >= 0) {
        url = (d.links[series] || [])[point.pointIndex];
      } else if (!d.links && d.rowLinks) {
        url = d.rowLinks[point.pointIndex];
      }
      if (url) {
        window.location.assign(url);
      }
    });
    el.setAttribute("data-drawn", "true");
  }

  document.querySelectorAll(".dashboard-chart").forEach(draw);
})();
