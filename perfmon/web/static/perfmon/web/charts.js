/* perfmon dashboard charts on the vendored uPlot: line charts with units on the axes,
   dashed threshold lines, and live appending for a running run. No other dependency. */
(function () {
  "use strict";

  // Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
  var COLORS = {
    p50: "#0072B2", p90: "#56B4E9", p95: "#E69F00", p99: "#D55E00", error_pct: "#CC79A7", rps: "#009E73",
    vus: "#000000", histogram: "#0072B2",
    cpu: "#0072B2", mem: "#009E73", load1: "#D55E00", runs: "#56B4E9", threshold: "#C00000"
  };

  function fmt(unit, value) {
    if (value == null || isNaN(value)) return "";
    var digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    var text = value.toFixed(digits);
    return unit ? text + " " + unit : text;
  }

  // Whole things (virtual users) read as whole numbers: 12, not 12.0.
  function fmtWhole(unit, value) {
    if (value == null || isNaN(value)) return "";
    var text = Math.round(value).toLocaleString("en");
    return unit ? text + " " + unit : text;
  }

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  // Tick steps of time axes, in seconds. uPlot's own start at a millisecond, which labels a
  // 10 s run every 0.5 s; the series are whole-second intervals, so ticks are whole seconds
  // at least, then clock steps (multiples of 30 and 365 days are months and years to uPlot).
  var DAY = 86400;
  var TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 90 * DAY, 365 * DAY];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // A threshold above this many times the data's highest value would squash the data into the
  // bottom of the chart: it is named at the top edge ("threshold p95 500 ms ↑") instead of drawn.
  var OFF_SCALE = 2;

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function dayOf(d) { return d.getDate() + " " + MONTHS[d.getMonth()]; }
  function clock(d, seconds) {
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + (seconds ? ":" + pad(d.getSeconds()) : "");
  }

  /* Tick labels for the step uPlot chose: seconds only when ticks are less than a minute apart,
     and the date under the first tick and wherever the day changes. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    var previous = null;
    return splits.map(function (t) {
      var d = new Date(t * 1000), day = dayOf(d), label;
      if (incr >= 365 * DAY) label = String(d.getFullYear());
      else if (incr >= 30 * DAY) label = MONTHS[d.getMonth()] + " " + d.getFullYear();
      else if (incr >= DAY) label = day;
      else label = clock(d, incr < 60) + (day !== previous ? "\n" + day : "");
      previous = day;
      return label;
    });
  }

  function lastValue(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  /* Legend values: the hovered point's, else (on load, and when the cursor leaves) the latest. */
  function legendValue(unit, format) {
    format = format || fmt;
    return function (u, v, sidx, idx) {
      var value = idx == null ? lastValue(u.data[sidx]) : v;
      return value == null || isNaN(value) ? "—" : format(unit, value);
    };
  }

  function legendTime(u, v, sidx, idx) {
    var t = idx == null ? lastValue(u.data[0]) : v;
    if (t == null) return "—";
    var d = new Date(t * 1000);
    return dayOf(d) + " " + clock(d, true) + (idx == null ? " (latest)" : "");
  }

  /* The y scale fits the data from zero; a threshold joins it only when it is close enough to the
     data (OFF_SCALE) not to flatten it, or when there is no data to fit. */
  function yRange(spec) {
    return function (u, min, max) {
      var top = max != null && max > 0 ? max : 0;
      // Charts drawn to be compared (a split run's parts) share one scale: spec.shared.max.
      if (spec.shared && spec.shared.max > top) top = spec.shared.max;
      (spec.thresholds || []).forEach(function (t) {
        if (!top || t.value <= top * OFF_SCALE) top = Math.max(top, t.value);
      });
      return [0, top > 0 ? top * 1.15 : 1];
    };
  }

  // A threshold as it was set (1 ms, 2.5 %), not padded to the axis' precision.
  function thresholdLabel(spec, t) {
    return t.label + " " + String(+Number(t.value).toPrecision(6)) + (spec.unit ? " " + spec.unit : "");
  }

  /* Thresholds on the scale are dashed red lines across the plot, labelled at the right end;
     those above it are named in the chart's off-scale note, under its title, with an arrow. */
  function drawThresholds(u, spec) {
    var ctx = u.ctx, box = u.bbox, ratio = window.devicePixelRatio || 1, above = [];
    (spec.thresholds || []).forEach(function (t) {
      if (t.value > u.scales.y.max) { above.push(thresholdLabel(spec, t) + " \u2191"); return; }
      var y = Math.round(u.valToPos(t.value, "y", true));
      ctx.save();
      ctx.fillStyle = COLORS.threshold;
      ctx.font = (11 * ratio) + "px system-ui, sans-serif";
      ctx.textAlign = "right";
      ctx.strokeStyle = COLORS.threshold;
      ctx.lineWidth = 1.5 * ratio;
      ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.beginPath();
      ctx.moveTo(box.left, y);
      ctx.lineTo(box.left + box.width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(thresholdLabel(spec, t), box.left + box.width - 4 * ratio, Math.max(y - 4 * ratio, box.top + 11 * ratio));
      ctx.restore();
    });
    var note = u.root.querySelector(".off-scale");
    if (note) {
      note.textContent = above.join("   ");
      note.title = above.length ? "above the highest value charted; the scale fits the data" : "";
    }
  }

  /* Which thresholds a drawn chart shows as lines and which as off-scale labels (for tests and tooltips). */
  function thresholdPlacement(chart) {
    var spec = chart.perfmonSpec, max = chart.scales.y.max;
    return (spec.thresholds || []).map(function (t) {
      return { label: thresholdLabel(spec, t), value: t.value, offScale: t.value > max };
    });
  }

  // Elapsed time (seconds since a run's start) as 0:05, 1:30, 1:02:03.
  function elapsedText(seconds) {
    var s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(rest);
  }

  function legendElapsed(u, v, sidx, idx) {
    var t = idx == null ? lastValue(u.data[0]) : v;
    return t == null ? "—" : elapsedText(t) + (idx == null ? " (end)" : "");
  }

  /* spec: {title, unit, x: [epoch s], series: [{label, key, color, values, dash}], thresholds: [{label, value}]};
     with spec.elapsed, x is seconds since a start (runs overlaid on one axis) instead of clock time. */
  function lineChart(el, spec) {
    var format = spec.whole ? fmtWhole : fmt;
    var series = [{ label: spec.elapsed ? "elapsed" : "time", value: spec.elapsed ? legendElapsed : legendTime }];
    var data = [spec.x.slice()];
    spec.series.forEach(function (s) {
      series.push({
        label: s.label, stroke: s.color || COLORS[s.key] || "#333", width: 2,
        value: legendValue(spec.unit, format), spanGaps: true, points: { show: spec.x.length < 3 }
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
      } }, y: { range: yRange(spec) } },
      axes: [
        { label: "time", stroke: "#4b5563", grid: { stroke: "#eceff3" }, space: 70, incrs: TIME_INCRS,
          values: timeTicks, size: 56 },
        { label: spec.unit ? spec.title + " (" + spec.unit + ")" : spec.title, stroke: "#4b5563", size: 60,
          grid: { stroke: "#eceff3" }, values: function (u, ticks) { return ticks.map(function (v) { return format("", v); }); } }
      ]
    };
    if (spec.elapsed) {
      opts.scales.x = { time: false, range: function (u, min, max) {
        return min == null || min === max ? [0, Math.max(max || 0, 1)] : [Math.min(min, 0), max];
      } };
      opts.axes[0] = { label: "seconds since the run's start", stroke: "#4b5563", grid: { stroke: "#eceff3" },
        space: 70, incrs: TIME_INCRS, size: 50,
        values: function (u, splits) { return splits.map(elapsedText); } };
    }
    if (spec.whole) opts.axes[1].incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
    el.innerHTML = "";
    var chart = new uPlot(opts, data, el), note = document.createElement("div");
    note.className = "off-scale";
    chart.root.insertBefore(note, chart.root.querySelector(".u-wrap"));
    chart.redraw(false, false);  // the note exists now: fill it
    chart.perfmonSpec = spec;
    chart.perfmonData = data;
    el.perfmonChart = chart;
    window.addEventListener("resize", function () { chart.setSize({ width: Math.max(el.clientWidth - 16, 300), height: opts.height }); });
    return chart;
  }

  // A latency as a bucket edge: 3 significant digits at most, in ms below 10 s, else in s.
  function edge(ms) {
    if (ms >= 10000) return String(+(ms / 1000).toPrecision(3)) + " s";
    return String(+Number(ms).toPrecision(3)) + " ms";
  }

  function range(bucket) { return edge(bucket.from_ms) + " \u2013 " + edge(bucket.to_ms); }

  /* A latency histogram: one bar per bucket ([{from_ms, to_ms, count}], log-spaced), bars of equal width
     side by side so every range reads, the x axis labelled with the buckets' lower edges. */
  function histogramChart(el, buckets, opts) {
    opts = opts || {};
    var xs = buckets.map(function (b, i) { return i; });
    var counts = buckets.map(function (b) { return b.count; });
    var every = Math.max(1, Math.ceil(buckets.length / 8));  // at most ~8 edge labels
    var chart = new uPlot({
      title: opts.title || "Latency distribution",
      width: Math.max(el.clientWidth - 16, 300),
      height: opts.height || 240,
      cursor: { points: { show: false } },
      series: [
        { label: "latency", value: function (u, v, sidx, idx) { return idx == null ? "—" : range(buckets[idx]); } },
        { label: "requests", stroke: COLORS.histogram, fill: COLORS.histogram + "cc", width: 1,
          paths: uPlot.paths.bars({ size: [0.92, Infinity], align: 0 }), points: { show: false },
          value: function (u, v, sidx, idx) { return idx == null ? "—" : fmtWhole("", v); } }
      ],
      scales: { x: { time: false, range: function () { return [-0.5, buckets.length - 0.5]; } },
                y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [
        { label: "latency (log-spaced buckets)", stroke: "#4b5563", grid: { show: false }, size: 50,
          splits: function () { return xs.filter(function (i) { return i % every === 0; }); },
          values: function (u, splits) { return splits.map(function (i) { return buckets[i] ? edge(buckets[i].from_ms) : ""; }); } },
        { label: "requests", stroke: "#4b5563", size: 60, grid: { stroke: "#eceff3" },
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1e6, 2e6, 5e6, 1e7],
          values: function (u, ticks) { return ticks.map(function (v) { return fmtWhole("", v); }); } }
      ]
    }, [xs, counts], el);
    chart.perfmonBuckets = buckets;
    el.perfmonChart = chart;
    window.addEventListener("resize", function () { chart.setSize({ width: Math.max(el.clientWidth - 16, 300), height: opts.height || 240 }); });
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
      thresholds: thresholds || [], height: def.height, shared: def.shared, whole: def.whole
    });
  }

  window.PerfmonCharts = {
    COLORS: COLORS, lineChart: lineChart, histogramChart: histogramChart, append: append, build: build,
    readJSON: readJSON, fmt: fmt, fmtWhole: fmtWhole,
    timeTicks: timeTicks, thresholdPlacement: thresholdPlacement, elapsedText: elapsedText
  };
})();
