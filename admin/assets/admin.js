// multidrop admin: the Remote POP Accounts list is an ARIA listbox with
// multiple selection (one Tab stop; aria-activedescendant marks the active
// row). Keys: Up/Down/Home/End move and select; Shift+move extends the
// selection from the anchor; Ctrl+move moves without selecting; Space
// toggles the active row (Shift+Space selects the range); Ctrl+A selects
// all; Enter edits. Mouse: click selects one row, Ctrl-click (Cmd-click)
// toggles one, Shift-click selects a range, double-click edits. The
// selection goes to the server as hidden id fields of the toolbar form.
"use strict";
(function () {
  const list = document.getElementById("accounts");
  const toolbar = document.getElementById("toolbar");
  const filter = document.getElementById("domain-filter");
  if (filter) {
    filter.addEventListener("change", function () { document.getElementById("filter").submit(); });
  }
  if (!list || !toolbar) return;
  const rows = Array.from(list.querySelectorAll("li[role=option]"));
  const btnEdit = document.getElementById("btn-edit");
  const btnDelete = document.getElementById("btn-delete");
  const btnCheck = document.getElementById("btn-check");
  const btnResume = document.getElementById("btn-resume");
  const btnRelease = document.getElementById("btn-release-guard");
  const dialog = document.getElementById("delete-dialog");
  const ids = document.createElement("span");
  toolbar.appendChild(ids);
  let anchor = -1, active = -1;

  function isSel(tr) { return tr.getAttribute("aria-selected") === "true"; }
  function selected() { return rows.filter(isSel); }
  function set(tr, on) {
    tr.setAttribute("aria-selected", on ? "true" : "false");
    tr.classList.toggle("selected", on);
  }
  function setActive(i) {
    if (i < 0 || i >= rows.length) return;
    if (active >= 0) rows[active].classList.remove("active");
    active = i;
    rows[i].classList.add("active");
    list.setAttribute("aria-activedescendant", rows[i].id);
    rows[i].scrollIntoView({ block: "nearest" });
  }
  function range(a, b, add) {
    const lo = Math.min(a, b), hi = Math.max(a, b);
    rows.forEach(function (r, k) {
      if (k >= lo && k <= hi) set(r, true);
      else if (!add) set(r, false);
    });
  }
  function refresh() {
    const s = selected();
    btnEdit.disabled = s.length !== 1;
    btnDelete.disabled = s.length === 0;
    if (btnCheck) btnCheck.disabled = s.length === 0;
    if (btnResume) btnResume.disabled = !s.some(function (r) { return r.dataset.resume === "yes"; });
    if (btnRelease) btnRelease.disabled = !s.some(function (r) { return r.dataset.guard === "yes"; });
    ids.replaceChildren();
    s.forEach(function (r) {
      const in_ = document.createElement("input");
      in_.type = "hidden"; in_.name = "id"; in_.value = r.dataset.id;
      ids.appendChild(in_);
    });
  }
  function edit(i) { if (i >= 0) window.location.href = rows[i].dataset.edit; }

  rows.forEach(function (tr, i) {
    tr.addEventListener("click", function (ev) {
      if (ev.shiftKey && anchor >= 0) {
        range(anchor, i, ev.ctrlKey || ev.metaKey);
      } else if (ev.ctrlKey || ev.metaKey) {
        set(tr, !isSel(tr));
        anchor = i;
      } else {
        rows.forEach(function (r) { set(r, r === tr); });
        anchor = i;
      }
      if (ev.shiftKey) window.getSelection().removeAllRanges();
      setActive(i);
      list.focus();
      refresh();
    });
    tr.addEventListener("dblclick", function () { edit(i); });
  });

  list.addEventListener("focus", function () {
    if (active < 0 && rows.length) {
      const s = rows.findIndex(isSel);
      setActive(s >= 0 ? s : 0);
    }
  });
  list.addEventListener("keydown", function (ev) {
    if (!rows.length) return;
    const ctrl = ev.ctrlKey || ev.metaKey;
    let to = -1;
    switch (ev.key) {
      case "ArrowDown": to = Math.min(active + 1, rows.length - 1); break;
      case "ArrowUp": to = Math.max(active - 1, 0); break;
      case "Home": to = 0; break;
      case "End": to = rows.length - 1; break;
      case " ":
        ev.preventDefault();
        if (ev.shiftKey && anchor >= 0) range(anchor, active, true);
        else { set(rows[active], !isSel(rows[active])); anchor = active; }
        refresh();
        return;
      case "Enter": ev.preventDefault(); edit(active); return;
      case "a": case "A":
        if (ctrl) { ev.preventDefault(); rows.forEach(function (r) { set(r, true); }); refresh(); }
        return;
      default: return;
    }
    ev.preventDefault();
    if (active < 0) to = 0;
    if (ev.shiftKey) {
      if (anchor < 0) anchor = Math.max(active, 0);
      setActive(to);
      range(anchor, to, ctrl);
    } else if (ctrl) {
      setActive(to);
    } else {
      setActive(to);
      rows.forEach(function (r, k) { set(r, k === to); });
      anchor = to;
    }
    refresh();
  });

  btnEdit.addEventListener("click", function () {
    const s = selected();
    if (s.length === 1) window.location.href = s[0].dataset.edit;
  });
  btnDelete.addEventListener("click", function (ev) {
    const s = selected();
    ev.preventDefault();
    if (s.length === 0 || !dialog || typeof dialog.showModal !== "function") {
      if (s.length) toolbar.requestSubmit(btnDelete); // the confirmation page
      return;
    }
    const ul = document.getElementById("delete-list");
    ul.replaceChildren();
    s.forEach(function (r) {
      const li = document.createElement("li");
      li.textContent = r.querySelector(".c-name").textContent.trim() + " \u2014 " + r.querySelector(".c-host").textContent;
      ul.appendChild(li);
    });
    document.getElementById("delete-title").textContent =
      s.length === 1 ? "Delete this account?" : "Delete these " + s.length + " accounts?";
    dialog.showModal();
  });
  if (dialog) {
    document.getElementById("delete-cancel").addEventListener("click", function () { dialog.close(); });
    document.getElementById("delete-confirm").addEventListener("click", function () {
      toolbar.elements.namedItem("confirmed").value = "yes";
      dialog.close();
      toolbar.action = btnDelete.getAttribute("formaction");
      toolbar.submit();
    });
  }
  if (btnCheck) {
    btnCheck.addEventListener("click", function () { toolbar.elements.namedItem("confirmed").value = ""; });
  }
  refresh();
})();

// The Edit POP Account form's Test connection and Preview buttons: the
// form's values go to the button's formaction in the background and the
// answer's result replaces the #probe-result section, so the form (a typed
// password included) stays as it is. A form with errors (422) is then
// submitted as without script, to show them next to their fields.
(function () {
  const form = document.getElementById("account-form");
  const out = document.getElementById("probe-result");
  if (!form || !out || !window.fetch || !window.DOMParser) return;
  const buttons = Array.from(form.querySelectorAll("button[data-probe]"));
  let plain = false;
  function busy(b, on) {
    buttons.forEach(function (x) { x.disabled = on; });
    if (on) b.setAttribute("aria-busy", "true"); else b.removeAttribute("aria-busy");
  }
  function say(text) {
    const p = document.createElement("p");
    p.id = "probe-status";
    p.className = "muted";
    p.textContent = text;
    out.replaceChildren(p);
  }
  form.addEventListener("submit", function (ev) {
    const b = ev.submitter;
    if (plain || !b || !b.dataset.probe) return;
    ev.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    busy(b, true);
    say(b.dataset.probe === "test" ? "Testing the connection\u2026" : "Downloading a preview\u2026");
    fetch(b.getAttribute("formaction"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (resp) {
        return resp.text().then(function (html) {
          busy(b, false);
          if (resp.status === 422) {
            plain = true;
            form.requestSubmit(b);
            return;
          }
          const doc = new DOMParser().parseFromString(html, "text/html");
          const res = doc.getElementById("probe-result");
          if (res && res.childNodes.length) {
            out.replaceChildren.apply(out, Array.from(res.childNodes).map(function (n) { return document.importNode(n, true); }));
          } else {
            const e = doc.getElementById("page-error");
            say(e ? e.textContent : "The request failed: " + resp.status + " " + resp.statusText);
          }
          out.scrollIntoView({ block: "start" });
        });
      })
      .catch(function (err) { busy(b, false); say("The request failed: " + err); });
  });
})();
