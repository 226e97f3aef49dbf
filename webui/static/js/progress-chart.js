// Draws the agreement charts with the locally served Plotly; each chart's data sits on its element as JSON.
// #progress-chart: completion of each agreed volume (bars, red when behind time) with a marker at time progress
// and one at the warning threshold. #share-chart: each hospital's online share per kind against its target.
(function () {
  "use strict";
  if (!window.Plotly) {
    return;
  }
  var BRAND = "#0b5a7a";
  var DANGER = "#b00020";
  var WARN = "#c77d00";
  var INK = "#1f2a33";
  var KIND_COLOURS = { drug: BRAND, consumable: "#5b8fa8" };

  function layout(height, extra) {
    var base = {
      margin: { l: 16, r: 16, t: 8, b: 48 },
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

  function drawProgress(el) {
    var d = JSON.parse(el.getAttribute("data-chart"));
    var hover = "%{y}<br>%{fullData.name}: %{x:.1f}%<extra></extra>";
    var traces = [
      {
        type: "bar",
        orientation: "h",
        name: d.names.completion,
        y: d.labels,
        x: d.completion,
        marker: {
          color: d.behind.map(function (behind) {
            return behind ? DANGER : BRAND;
          }),
        },
        hovertemplate: hover,
      },
      {
        type: "scatter",
        mode: "markers",
        name: d.names.time,
        y: d.labels,
        x: d.time,
        marker: { symbol: "line-ns-open", size: 26, color: INK, line: { width: 3, color: INK } },
        hovertemplate: hover,
      },
      {
        type: "scatter",
        mode: "markers",
        name: d.names.warning,
        y: d.labels,
        x: d.warning,
        marker: { symbol: "diamond-tall", size: 12, color: WARN, line: { width: 1, color: "#fff" } },
        hovertemplate: hover,
      },
    ];
    var height = Math.max(200, 90 + 38 * d.labels.length);
    // The scale always reaches 100 %, further when a hospital bought beyond its agreed volume.
    var highest = Math.max.apply(null, [100].concat(d.completion.filter(function (v) {
      return v !== null;
    })));
    window.Plotly.newPlot(
      el,
      traces,
      layout(height, {
        bargap: 0.35,
        xaxis: { title: { text: d.names.axis }, ticksuffix: "%", range: [0, highest * 1.05], fixedrange: true, gridcolor: "#e3e7eb" },
        yaxis: { autorange: "reversed", automargin: true, fixedrange: true },
      }),
      { displayModeBar: false, responsive: true }
    );
  }

  function drawShare(el) {
    var d = JSON.parse(el.getAttribute("data-chart"));
    var traces = d.series.map(function (s) {
      return {
        type: "bar",
        name: s.name,
        x: d.hospitals,
        y: s.share,
        marker: { color: KIND_COLOURS[s.kind] || BRAND },
        hovertemplate: "%{x}<br>%{fullData.name}: %{y:.1f}%<extra></extra>",
      };
    });
    var shapes = [];
    var notes = [];
    d.series.forEach(function (s) {
      if (s.target === null) {
        return;
      }
      var colour = KIND_COLOURS[s.kind] || BRAND;
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: s.target, y1: s.target, line: { color: colour, width: 2, dash: "dash" } });
      notes.push({ xref: "paper", x: 1, y: s.target, xanchor: "right", yanchor: "bottom", showarrow: false, text: s.targetName + " " + s.target + "%", font: { color: colour } });
    });
    window.Plotly.newPlot(
      el,
      traces,
      layout(320, {
        barmode: "group",
        shapes: shapes,
        annotations: notes,
        margin: { l: 64, r: 16, t: 8, b: 48 },
        bargap: d.hospitals.length < 3 ? 0.6 : 0.3,
        xaxis: { automargin: true, fixedrange: true },
        yaxis: { title: { text: d.axis }, ticksuffix: "%", range: [0, 105], automargin: true, fixedrange: true, gridcolor: "#e3e7eb" },
      }),
      { displayModeBar: false, responsive: true }
    );
  }

  var progress = document.getElementById("progress-chart");
  if (progress) {
    drawProgress(progress);
  }
  var share = document.getElementById("share-chart");
  if (share) {
    drawShare(share);
  }
})();
