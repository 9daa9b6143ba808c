// Click-to-sort for the board tables (a file, not inline, so the pages work under a CSP without inline script).
document.querySelectorAll("table.board th.sortable").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = +th.dataset.col;
    var numeric = th.dataset.type === "number";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      if (numeric) { x = parseFloat(x); y = parseFloat(y); x = isNaN(x) ? Infinity : x; y = isNaN(y) ? Infinity : y; }
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});

// Filters: a <select class="filter"> hides the rows of its table (data-table, or "all" board tables) whose
// cell in column data-col does not match (its data-attr value, else its sort key); "" shows every row.
document.querySelectorAll("select.filter").forEach(function (sel) {
  sel.addEventListener("change", function () {
    var tables = sel.dataset.table === "all"
      ? document.querySelectorAll("table.board")
      : [document.getElementById(sel.dataset.table)];
    var filters = Array.prototype.filter.call(document.querySelectorAll("select.filter"), function (s) {
      return s.dataset.table === sel.dataset.table;
    });
    Array.prototype.forEach.call(tables, function (table) {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var show = filters.every(function (f) {
          var cell = row.cells[+f.dataset.col];
          var value = f.dataset.attr ? cell.dataset[f.dataset.attr] : cell.dataset.sort;
          return f.value === "" || value === f.value;
        });
        row.hidden = !show;
      });
    });
  });
});
