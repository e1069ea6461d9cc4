/* A finished run's per-request analysis: sortable tables and the latency histogram.

   A table with class "sortable" sorts by a column when its header (a button inside a th with
   data-sort="num" or "text") is clicked: numbers largest first, text A to Z, and a second click
   reverses. Numeric cells sort by their data-value (the raw figure; empty: unknown, always last).
   Rows with class "pinned" (the "other" bucket) stay at the bottom. No dependency. */
(function () {
  "use strict";

  function cellKey(row, index, kind) {
    var cell = row.cells[index];
    if (kind === "num") {
      var raw = cell ? cell.getAttribute("data-value") : null;
      return raw === null || raw === "" ? null : parseFloat(raw);
    }
    return cell ? cell.textContent.trim().toLowerCase() : "";
  }

  function compare(a, b, kind, direction) {
    if (a === b) return 0;
    if (a === null) return 1;  // unknown figures last, whichever the direction
    if (b === null) return -1;
    var order = kind === "num" ? a - b : (a < b ? -1 : 1);
    return direction === "ascending" ? order : -order;
  }

  function sortBy(table, th) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var index = headers.indexOf(th), kind = th.getAttribute("data-sort");
    var current = th.getAttribute("aria-sort");
    var first = kind === "num" ? "descending" : "ascending";
    var direction = current === first ? (first === "descending" ? "ascending" : "descending") : first;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var pinned = rows.filter(function (r) { return r.classList.contains("pinned"); });
    var sorted = rows.filter(function (r) { return !r.classList.contains("pinned"); })
      .map(function (row, position) { return { row: row, key: cellKey(row, index, kind), position: position }; })
      .sort(function (a, b) { return compare(a.key, b.key, kind, direction) || a.position - b.position; });
    sorted.forEach(function (item) { body.appendChild(item.row); });
    pinned.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (h) { if (h !== th) h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", direction);
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (!th.hasAttribute("data-sort")) return;
      var button = th.querySelector("button");
      if (button) button.addEventListener("click", function () { sortBy(table, th); });
    });
  });

  var histogram = document.getElementById("chart-histogram");
  if (histogram && window.PerfmonCharts) {
    window.PerfmonCharts.histogramChart(histogram, window.PerfmonCharts.readJSON("histogram-data") || []);
  }
})();
