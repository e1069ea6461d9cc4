/* A running run's page: poll live.json, append new series points to the charts and new
   log chunks to the tail, and reload once the run is final to show its summary. */
(function () {
  "use strict";
  var root = document.getElementById("run-live");
  if (!root) return;
  var C = window.PerfmonCharts;
  var url = root.dataset.url, pollMs = parseInt(root.dataset.pollMs, 10) || 1500;
  var points = C.readJSON("series-data") || [];
  var logs = C.readJSON("log-data") || [];
  var thresholds = C.readJSON("threshold-lines") || {};
  var lastSeries = points.length ? points[points.length - 1].seq : -1;
  var lastLog = logs.length ? logs[logs.length - 1].seq : -1;
  var tail = document.getElementById("log-tail");
  var status = document.getElementById("run-status");
  var counter = document.getElementById("series-count");
  var started = document.getElementById("run-started");
  // A finished run without intervals shows why instead of empty charts.
  var charts = !document.getElementById("chart-latency") ? [] : [
    C.build(document.getElementById("chart-latency"), points,
      { title: "Latency", unit: "ms", series: [{ label: "p50", key: "p50" }, { label: "p95", key: "p95" }, { label: "p99", key: "p99" }] },
      thresholds.latency),
    C.build(document.getElementById("chart-throughput"), points,
      { title: "Throughput", unit: "req/s", series: [{ label: "throughput", key: "rps" }] }),
    C.build(document.getElementById("chart-errors"), points,
      { title: "Error rate", unit: "%", series: [{ label: "errors", key: "error_pct" }] }, thresholds.errors)
  ];
  if (root.dataset.final === "true") return;

  function poll() {
    fetch(url + "?series_after=" + lastSeries + "&log_after=" + lastLog, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (news) {
        if (news.series.length) {
          charts.forEach(function (chart) { C.append(chart, news.series); });
          lastSeries = news.series[news.series.length - 1].seq;
          counter.textContent = String(parseInt(counter.textContent, 10) + news.series.length);
        }
        if (news.logs.length) {
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
