(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  // Sorting: click or Enter on a header. A cell's data-v, when present,
  // is its sort key (severity rank, days left); data-type="num" headers
  // compare numerically.
  function key(row, i) {
    var c = row.cells[i];
    if (!c) { return ""; }
    var v = c.getAttribute("data-v");
    return v !== null ? v : c.textContent.trim().toLowerCase();
  }
  function sortBy(table, i, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var num = th.getAttribute("data-type") === "num";
    rows.sort(function (a, b) {
      var x = key(a, i), y = key(b, i), d;
      if (num) { d = (parseFloat(x) || 0) - (parseFloat(y) || 0); } else { d = x < y ? -1 : x > y ? 1 : 0; }
      return asc ? d : -d;
    });
    each(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  each(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    each(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.setAttribute("title", "Sort");
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });

  // Filtering: free text over the whole row, and a minimum severity for
  // findings (rows carry data-rank).
  function filter(table) {
    var input = document.querySelector('input.filter[data-table="' + table.id + '"]');
    var sel = document.querySelector('select.sevfilter[data-table="' + table.id + '"]');
    var q = input ? input.value.trim().toLowerCase() : "";
    var min = sel ? parseInt(sel.value, 10) : -1;
    var rows = table.tBodies[0].rows, shown = 0;
    each(rows, function (r) {
      var ok = (!q || r.textContent.toLowerCase().indexOf(q) >= 0) &&
        (min < 0 || parseInt(r.getAttribute("data-rank") || "0", 10) >= min);
      r.hidden = !ok;
      if (ok) { shown++; }
    });
    var count = document.querySelector('.count[data-table="' + table.id + '"]');
    if (count) { count.textContent = shown === rows.length ? rows.length + " rows" : shown + " of " + rows.length + " rows"; }
  }
  each(document.querySelectorAll("input.filter, select.sevfilter"), function (el) {
    var table = document.getElementById(el.getAttribute("data-table"));
    if (!table) { return; }
    el.addEventListener("input", function () { filter(table); });
    el.addEventListener("change", function () { filter(table); });
    filter(table);
  });
  root.setAttribute("data-ready", "1");
})();
