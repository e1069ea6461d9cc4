/* A running run's page: poll live.json, append new series points to the charts and new
   log chunks to the tail, and reload once the run is final to show its summary. */
(function () {
  "use strict";
  var root = document.getElementById("run-live");
  if (!root) return;
  var C = window.PerfmonCharts;
  var LATENCY = [{ label: "p50", key: "p50" }, { label: "p90", key: "p90" }, { label: "p95", key: "p95" },
    { label: "p99", key: "p99" }];
  var url = root.dataset.url, pollMs = parseInt(root.dataset.pollMs, 10) || 1500;
  var points = C.readJSON("series-data") || [];
  var logs = C.readJSON("log-data") || [];
  var thresholds = C.readJSON("threshold-lines") || {};
  // A split run: each part's own latency chart, status badge and log, each polled on its own cursor.
  var parts = C.readJSON("parts-data");
  var split = parts !== null;
  var lastSeries = points.length ? points[points.length - 1].seq : -1;
  var lastLog = logs.length ? logs[logs.length - 1].seq : -1;
  var partCharts = {}, partLast = {}, partLogLast = {};
  // The parts' latency charts share one y scale, so a slower part reads as slower at a glance.
  var shared = { max: 0 };
  function widen(series) {
    series.forEach(function (p) { shared.max = Math.max(shared.max, p.p50 || 0, p.p95 || 0, p.p99 || 0); });
  }
  (parts || []).forEach(function (part) { widen(part.series); });
  (parts || []).forEach(function (part) {
    var el = document.getElementById("chart-part-" + part.index);
    partLast[part.index] = part.series.length ? part.series[part.series.length - 1].seq : -1;
    partLogLast[part.index] = -1;
    if (el) {
      partCharts[part.index] = C.build(el, part.series,
        // No threshold lines: thresholds judge the merged run, not a part.
        { title: "Latency", unit: "ms", height: 170, shared: shared,
          series: LATENCY });
    }
  });
  if (split) logs.forEach(function (chunk) { partLogLast[chunk.part] = Math.max(partLogLast[chunk.part], chunk.seq); });
  var tail = document.getElementById("log-tail");
  var status = document.getElementById("run-status");
  var counter = document.getElementById("series-count");
  var started = document.getElementById("run-started");
  // A finished run without intervals shows why instead of empty charts.
  var charts = !document.getElementById("chart-latency") ? [] : [
    C.build(document.getElementById("chart-latency"), points,
      { title: "Latency", unit: "ms", series: LATENCY },
      thresholds.latency),
    C.build(document.getElementById("chart-throughput"), points,
      { title: "Throughput", unit: "req/s", series: [{ label: "throughput", key: "rps" }] }),
    C.build(document.getElementById("chart-errors"), points,
      { title: "Error rate", unit: "%", series: [{ label: "errors", key: "error_pct" }] }, thresholds.errors)
  ];
  // The load level, once the tool reports one (k6's active VUs; the parts' added up on a split run):
  // drawn when the first point with it is known, so a tool that reports none gets no empty chart.
  var vuEl = document.getElementById("chart-vus"), vuChart = null, seen = points.slice();
  function showVus() {
    if (vuChart || !vuEl || !seen.some(function (p) { return p.vus != null; })) return;
    vuEl.hidden = false;
    vuChart = C.build(vuEl, seen, { title: "Virtual users", unit: "", whole: true, height: 190,
      series: [{ label: "VUs", key: "vus" }] });
    charts.push(vuChart);
    seen = null;
  }
  showVus();
  if (root.dataset.final === "true") return;

  function cursors(last) {
    return encodeURIComponent(Object.keys(last).map(function (i) { return i + ":" + last[i]; }).join(","));
  }

  function appendLog(pre, text) {
    var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(text));
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function showParts(news) {
    (news.parts || []).forEach(function (part) { widen(part.series); });
    (news.parts || []).forEach(function (part) {
      var badge = document.getElementById("part-" + part.index + "-status");
      if (badge) { badge.textContent = part.status; badge.className = "badge status-" + part.status; }
      if (part.series.length) {
        if (partCharts[part.index]) C.append(partCharts[part.index], part.series);
        partLast[part.index] = part.series[part.series.length - 1].seq;
      }
    });
    news.logs.forEach(function (chunk) {
      var pre = document.getElementById("log-part-" + chunk.part);
      if (pre) appendLog(pre, chunk.text);
      partLogLast[chunk.part] = Math.max(partLogLast[chunk.part] == null ? -1 : partLogLast[chunk.part], chunk.seq);
    });
  }

  function query() {
    if (!split) return "?series_after=" + lastSeries + "&log_after=" + lastLog;
    return "?series_after=" + lastSeries + "&log_after=" + cursors(partLogLast) + "&part_series_after=" + cursors(partLast);
  }

  function poll() {
    fetch(url + query(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (news) {
        if (news.series.length) {
          charts.forEach(function (chart) { C.append(chart, news.series); });
          if (!vuChart) { seen = seen.concat(news.series); showVus(); }
          lastSeries = news.series[news.series.length - 1].seq;
          counter.textContent = String(parseInt(counter.textContent, 10) + news.series.length);
        }
        if (split) showParts(news);
        else if (news.logs.length) {
          var atBottom = tail.scrollTop + tail.clientHeight >= tail.scrollHeight - 4;
          news.logs.forEach(function (chunk) { tail.appendChild(document.createTextNode(chunk.text)); });
          lastLog = news.logs[news.logs.length - 1].seq;
          if (atBottom) tail.scrollTop = tail.scrollHeight;
        }
        if (news.started_at && started.textContent.trim() === "—") {
          started.textContent = news.started_at.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
        }
        status.textContent = news.status;
        status.className = "badge status-" + news.status;
        if (news.final) { window.location.reload(); return; }
        window.setTimeout(poll, pollMs);
      })
      .catch(function () { window.setTimeout(poll, pollMs * 2); });
  }
  window.setTimeout(poll, pollMs);
})();
