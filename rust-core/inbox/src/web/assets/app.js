// Hemalens inbox: keyboard relabelling and clickable queue rows. The pages
// work without this script (each cell is a link that selects it, the relabel
// form posts normally); with it, a reviewer keeps both hands on the keyboard:
// ←/→ (or j/k) move between cells, 1-9 relabel the selected cell at once.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var row = e.target.closest && e.target.closest("tr.case");
    if (row && !e.target.closest("a")) { window.location = row.dataset.href; }
  });
  var gallery = document.getElementById("gallery");
  if (!gallery) { return; }
  var form = document.getElementById("relabel");
  var cellInput = document.getElementById("relabel-cell");
  var which = document.getElementById("relabel-which");
  var select = document.getElementById("relabel-label");
  var cells = Array.prototype.slice.call(gallery.querySelectorAll("a.cell"));
  var labels = Array.prototype.map.call(select.options, function (o) { return o.value; });
  var current = cells.findIndex(function (c) { return c.classList.contains("selected"); });

  function choose(i, scroll) {
    if (i < 0 || i >= cells.length) { return; }
    cells.forEach(function (c) { c.classList.remove("selected"); });
    document.querySelectorAll("rect.box.selected").forEach(function (r) { r.classList.remove("selected"); });
    current = i;
    var c = cells[i];
    c.classList.add("selected");
    var id = c.dataset.cell;
    cellInput.value = id;
    var parts = id.split("-");
    var label = c.querySelector(".caption strong") ? c.querySelector(".caption strong").textContent : c.querySelector(".caption").firstChild.textContent.trim();
    which.textContent = "Field " + parts[0] + ", cell " + parts[1] + " (" + label + ")";
    select.value = label;
    var box = document.querySelector('rect.box[data-cell="' + id + '"]');
    if (box) { box.classList.add("selected"); }
    if (scroll) { c.scrollIntoView({ block: "nearest" }); }
    c.focus({ preventScroll: !scroll });
  }

  cells.forEach(function (c, i) {
    c.addEventListener("click", function (e) { e.preventDefault(); choose(i, false); });
  });
  document.querySelectorAll("rect.box").forEach(function (r) {
    r.parentNode.addEventListener("click", function (e) {
      var i = cells.findIndex(function (c) { return c.dataset.cell === r.dataset.cell; });
      if (i >= 0) { e.preventDefault(); choose(i, true); }
    });
  });

  function relabel(label) {
    if (current < 0) { return; }
    var c = cells[current];
    var body = new URLSearchParams();
    body.set("csrf", gallery.dataset.csrf);
    body.set("cell", c.dataset.cell);
    body.set("label", label);
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status === 401 || r.redirected) { window.location = "/login"; return null; }
      if (!r.ok) { throw new Error("relabel failed: " + r.status); }
      return r.json();
    }).then(function (j) {
      if (!j) { return; }
      var cap = c.querySelector(".caption");
      var machine = cap.querySelector("s") ? cap.querySelector("s").textContent : cap.firstChild.textContent.trim();
      cap.textContent = "";
      var s = document.createElement("s"); s.textContent = machine;
      var strong = document.createElement("strong"); strong.className = "relabelled"; strong.textContent = j.label;
      cap.appendChild(s); cap.appendChild(document.createTextNode(" → ")); cap.appendChild(strong);
      cap.appendChild(document.createTextNode(" (" + j.reviewer + ")"));
      c.classList.add("done");
      which.textContent = "Field " + j.cell.split("-")[0] + ", cell " + j.cell.split("-")[1] + " (" + j.label + ")";
      choose(Math.min(current + 1, cells.length - 1), true);
    }).catch(function (err) { which.textContent = String(err.message || err); });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); relabel(select.value); });
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "ArrowRight" || e.key === "j") { e.preventDefault(); choose(current < 0 ? 0 : current + 1, true); }
    else if (e.key === "ArrowLeft" || e.key === "k") { e.preventDefault(); choose(Math.max(current - 1, 0), true); }
    else if (/^[1-9]$/.test(e.key)) {
      var n = parseInt(e.key, 10) - 1;
      if (n < labels.length) { e.preventDefault(); relabel(labels[n]); }
    }
  });
})();
