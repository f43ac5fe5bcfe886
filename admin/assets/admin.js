// multidrop admin: desktop-style selection on the Remote POP Accounts list.
// Click selects one row, Ctrl-click (Cmd-click) toggles one, Shift-click
// selects a range; double-click or Enter edits. The row checkboxes carry the
// selection to the server, so the page also works without this script.
"use strict";
(function () {
  const table = document.getElementById("accounts");
  const toolbar = document.getElementById("toolbar");
  const filter = document.getElementById("domain-filter");
  if (filter) {
    filter.addEventListener("change", function () { document.getElementById("filter").submit(); });
  }
  if (!table || !toolbar) return;
  const rows = Array.from(table.querySelectorAll("tbody tr[data-id]"));
  const btnEdit = document.getElementById("btn-edit");
  const btnDelete = document.getElementById("btn-delete");
  const btnCheck = document.getElementById("btn-check");
  let anchor = -1;

  function box(tr) { return tr.querySelector("input[type=checkbox][name=id]"); }
  function selected() { return rows.filter(function (tr) { return box(tr).checked; }); }
  function set(tr, on) {
    box(tr).checked = on;
    tr.classList.toggle("selected", on);
    tr.setAttribute("aria-selected", on ? "true" : "false");
  }
  function refresh() {
    const n = selected().length;
    btnEdit.disabled = n !== 1;
    btnDelete.disabled = n === 0;
    if (btnCheck) btnCheck.disabled = n === 0;
  }

  rows.forEach(function (tr, i) {
    set(tr, box(tr).checked);
    tr.addEventListener("click", function (ev) {
      if (ev.target.closest("a")) return;
      const onBox = ev.target === box(tr);
      if (ev.shiftKey && anchor >= 0) {
        const lo = Math.min(anchor, i), hi = Math.max(anchor, i);
        if (!(ev.ctrlKey || ev.metaKey)) rows.forEach(function (r) { set(r, false); });
        for (let k = lo; k <= hi; k++) set(rows[k], true);
      } else if (ev.ctrlKey || ev.metaKey || onBox) {
        set(tr, onBox ? box(tr).checked : !box(tr).checked);
        anchor = i;
      } else {
        rows.forEach(function (r) { set(r, r === tr); });
        anchor = i;
      }
      if (ev.shiftKey) window.getSelection().removeAllRanges();
      refresh();
    });
    tr.addEventListener("dblclick", function (ev) {
      if (ev.target.closest("a")) return;
      window.location.href = tr.dataset.edit;
    });
    tr.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") window.location.href = tr.dataset.edit;
      if (ev.key === " ") { ev.preventDefault(); set(tr, !box(tr).checked); anchor = i; refresh(); }
    });
  });

  btnEdit.addEventListener("click", function () {
    const s = selected();
    if (s.length === 1) window.location.href = s[0].dataset.edit;
  });
  btnDelete.addEventListener("click", function (ev) {
    const ids = selected().map(function (tr) { return tr.dataset.id; });
    if (ids.length === 0) { ev.preventDefault(); return; }
    const what = ids.length === 1 ? "account " + ids[0] : ids.length + " accounts (" + ids.join(", ") + ")";
    if (!window.confirm("Delete " + what + "? This cannot be undone.")) {
      ev.preventDefault();
      return;
    }
    toolbar.elements.namedItem("confirmed").value = "yes";
  });
  if (btnCheck) {
    btnCheck.addEventListener("click", function () {
      toolbar.elements.namedItem("confirmed").value = "";
      btnCheck.textContent = "Checking\u2026";
    });
  }
  refresh();
})();
