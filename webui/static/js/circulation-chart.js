// Draws the circulation charts with the locally served Plotly; each chart's data sits on its element as JSON.
// #share-chart: each hospital's out-of-catalogue share by month, with a dashed line at each cap (rulebook 0.11).
// #structure-chart: stacked shares of medical service, drugs and consumables, and tests per hospital-month, next to
// the 5 : 3 : 2 target bar (rulebook 0.16); bars off target are outlined in red.
(function () {
  "use strict";
  if (!window.Plotly) {
    return;
  }
  var DANGER = "#b00020";
  var PARTS = [
    ["service", "#0b5a7a"],
    ["drugs_consumables", "#c77d00"],
    ["tests", "#5b8fa8"],
  ];

  function layout(height, extra) {
    var base = {
      margin: { l: 64, r: 16, t: 8, b: 64 },
      height: height,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: 'system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif', size: 12 },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    };
    Object.keys(extra).forEach(function (key) {
      base[key] = extra[key];
    });
    return base;
  }

  function drawShare(el) {
    var d = JSON.parse(el.getAttribute("data-chart"));
    var names = JSON.parse(el.getAttribute("data-names"));
    var traces = d.series.map(function (s) {
      return {
        type: "scatter",
        mode: "lines+markers",
        connectgaps: false,
        name: s.name,
        x: d.months,
        y: s.y,
        hovertemplate: "%{x}<br>%{fullData.name}: %{y:.1f}%<extra></extra>",
      };
    });
    var highest = 0;
    d.series.forEach(function (s) {
      s.y.forEach(function (v) {
        if (v !== null && v > highest) {
          highest = v;
        }
      });
    });
    var shapes = [];
    var notes = [];
    d.limits.forEach(function (limit) {
      highest = Math.max(highest, limit);
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: limit, y1: limit, line: { color: DANGER, width: 2, dash: "dash" } });
      notes.push({ xref: "paper", x: 1, y: limit, xanchor: "right", yanchor: "bottom", showarrow: false, text: names.limit + " " + limit + "%", font: { color: DANGER } });
    });
    window.Plotly.newPlot(
      el,
      traces,
      layout(320, {
        shapes: shapes,
        annotations: notes,
        xaxis: { type: "category", automargin: true, fixedrange: true },
        yaxis: { title: { text: names.share_axis }, ticksuffix: "%", range: [0, highest * 1.25 + 1], automargin: true, fixedrange: true, gridcolor: "#e3e7eb" },
      }),
      { displayModeBar: false, responsive: true }
    );
  }

  function drawStructure(el) {
    var d = JSON.parse(el.getAttribute("data-chart"));
    var names = JSON.parse(el.getAttribute("data-names"));
    var traces = PARTS.map(function (part) {
      return {
        type: "bar",
        name: names[part[0]],
        x: d.labels,
        y: d[part[0]],
        marker: {
          color: part[1],
          line: {
            width: d.off.map(function (off) {
              return off ? 2 : 0;
            }),
            color: DANGER,
          },
        },
        hovertemplate: "%{x}<br>%{fullData.name}: %{y:.1f}%<extra></extra>",
      };
    });
    window.Plotly.newPlot(
      el,
      traces,
      layout(360, {
        barmode: "stack",
        xaxis: { automargin: true, fixedrange: true },
        yaxis: { title: { text: names.structure_axis }, ticksuffix: "%", range: [0, 100], fixedrange: true, gridcolor: "#e3e7eb" },
      }),
      { displayModeBar: false, responsive: true }
    );
  }

  // Clicking a point opens the table row it stands for (the hospital-month behind it).
  function linkRows(el, rowsOf) {
    el.on("plotly_click", function (event) {
      var point = event.points[0];
      var id = rowsOf(point);
      var row = id && document.getElementById(id);
      if (row) {
        window.location.hash = id;
        row.classList.add("highlight");
      }
    });
  }

  var share = document.getElementById("share-chart");
  if (share) {
    drawShare(share);
    var shareData = JSON.parse(share.getAttribute("data-chart"));
    linkRows(share, function (point) {
      var series = shareData.series[point.curveNumber];
      return series && series.rows ? series.rows[point.pointIndex] : null;
    });
  }
  var structure = document.getElementById("structure-chart");
  if (structure) {
    drawStructure(structure);
    var structureData = JSON.parse(structure.getAttribute("data-chart"));
    linkRows(structure, function (point) {
      return (structureData.rows || [])[point.pointIndex];
    });
  }
})();
