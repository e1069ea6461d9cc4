/* perfmon dashboard charts on the vendored uPlot: line charts with units on the axes,
   dashed threshold lines, and live appending for a running run. No other dependency. */
(function () {
  "use strict";

  // Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
  var COLORS = {
    p50: "#0072B2", p95: "#E69F00", p99: "#D55E00", error_pct: "#CC79A7", rps: "#009E73",
    cpu: "#0072B2", mem: "#009E73", load1: "#D55E00", runs: "#56B4E9", threshold: "#C00000"
  };

  function fmt(unit, value) {
    if (value == null || isNaN(value)) return "";
    var digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    var text = value.toFixed(digits);
    return unit ? text + " " + unit : text;
  }

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /* Thresholds are dashed red lines across the whole plot, labelled at the right end. */
  function drawThresholds(u, spec) {
    var ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1;
    (spec.thresholds || []).forEach(function (t) {
      var y = Math.round(u.valToPos(t.value, "y", true));
      if (y < box.top || y > box.top + box.height) return;
      ctx.save();
      ctx.strokeStyle = COLORS.threshold;
      ctx.lineWidth = 1.5 * ratio;
      ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.beginPath();
      ctx.moveTo(box.left, y);
      ctx.lineTo(box.left + box.width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS.threshold;
      ctx.font = (11 * ratio) + "px system-ui, sans-serif";
      ctx.textAlign = "right";
      ctx.fillText(t.label + " " + fmt(spec.unit, t.value), box.left + box.width - 4 * ratio, y - 4 * ratio);
      ctx.restore();
    });
  }

  /* spec: {title, unit, x: [epoch s], series: [{label, key, color, values, dash}], thresholds: [{label, value}]} */
  function lineChart(el, spec) {
    var series = [{}];
    var data = [spec.x.slice()];
    spec.series.forEach(function (s) {
      series.push({
        label: s.label, stroke: s.color || COLORS[s.key] || "#333", width: 2,
        value: function (u, v) { return fmt(spec.unit, v); }, spanGaps: true, points: { show: spec.x.length < 3 }
      });
      data.push(s.values.slice());
    });
    var opts = {
      title: spec.title,
      width: Math.max(el.clientWidth - 16, 300),
      height: spec.height || 240,
      series: series,
      hooks: { draw: [function (u) { drawThresholds(u, spec); }] },
      scales: { x: { time: true, range: function (u, min, max) {
        // One point (or none) would make uPlot span years: show a minute around it instead.
        // (uPlot itself widens a single time value by 86400 / ms: years, with seconds).
        var xs = u.data[0];
        if (!xs.length) { var now = Date.now() / 1000; return [now - 60, now]; }
        return xs.length === 1 || xs[0] === xs[xs.length - 1] ? [xs[0] - 30, xs[0] + 30] : [min, max];
      } }, y: { range: function (u, min, max) {
        var top = max == null ? 1 : max * 1.1 || 1;
        (spec.thresholds || []).forEach(function (t) { if (t.value * 1.1 > top) top = t.value * 1.1; });
        return [0, top];
      } } },
      axes: [
        { label: "time", stroke: "#4b5563", grid: { stroke: "#eceff3" } },
        { label: spec.unit ? spec.title + " (" + spec.unit + ")" : spec.title, stroke: "#4b5563", size: 60,
          grid: { stroke: "#eceff3" }, values: function (u, ticks) { return ticks.map(function (v) { return fmt("", v); }); } }
      ]
    };
    el.innerHTML = "";
    var chart = new uPlot(opts, data, el);
    chart.perfmonSpec = spec;
    chart.perfmonData = data;
    window.addEventListener("resize", function () { chart.setSize({ width: Math.max(el.clientWidth - 16, 300), height: opts.height }); });
    return chart;
  }

  /* Append points ({t, <key>...}) to a chart made by lineChart. */
  function append(chart, points) {
    if (!points.length) return;
    var spec = chart.perfmonSpec, data = chart.perfmonData;
    points.forEach(function (p) {
      data[0].push(p.t);
      spec.series.forEach(function (s, i) { data[i + 1].push(p[s.key]); });
    });
    chart.setData(data);
  }

  function column(points, key) { return points.map(function (p) { return p[key]; }); }

  function build(el, points, def, thresholds) {
    return lineChart(el, {
      title: def.title, unit: def.unit, x: column(points, "t"),
      series: def.series.map(function (s) { return { label: s.label, key: s.key, values: column(points, s.key) }; }),
      thresholds: thresholds || []
    });
  }

  window.PerfmonCharts = { COLORS: COLORS, lineChart: lineChart, append: append, build: build, readJSON: readJSON, fmt: fmt };
})();
