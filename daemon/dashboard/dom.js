// Building blocks of the page: elements, tables whose rows are updated in
// place, sparklines, progress bars, the confirm dialog. Styles go through
// classes or the CSSOM only (the CSP forbids style attributes).

/**
 * h("a", {href, class, test: "nav-jobs", data: {job: 7}, on: {click}}, ...children)
 * Children: strings, nodes, arrays, null (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "test") el.dataset.test = v;
    else if (k === "data") Object.assign(el.dataset, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Set text only when it changed (keeps selection and avoids needless layout). */
export function setText(el, text) {
  const t = String(text);
  if (el.textContent !== t) el.textContent = t;
}

export function link(href, text, attrs) {
  return h("a", { href, ...attrs }, text);
}

export const enc = encodeURIComponent;

/** A page header: title, optional subtitle and actions on the right. */
export function pageHead(title, sub, ...actions) {
  return h("div", { class: "page-head" },
    h("div", { class: "page-title" }, h("h1", { text: title }), sub ? h("p", { class: "sub" }, sub) : null),
    h("div", { class: "page-actions" }, actions));
}

export function emptyState(title, ...body) {
  return h("div", { class: "empty", test: "empty-state" },
    h("p", { class: "empty-title", text: title }), h("div", { class: "empty-body" }, body));
}

export function card(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", { class: "card-title", text: title }) : null, body);
}

/** Key/value list (dl) from [[label, valueNode|string], ...]; null rows are skipped. */
export function facts(rows) {
  return h("dl", { class: "facts" }, rows.filter(Boolean).map(([k, v]) =>
    [h("dt", { text: k }), h("dd", {}, v === null || v === undefined ? "–" : v)]));
}

/* ---- job states ---- */

export const STATES = ["queued", "running", "succeeded", "failed", "deadline_exceeded", "canceled"];
export const FINAL = new Set(["succeeded", "failed", "deadline_exceeded", "canceled"]);
export const RETRYABLE = new Set(["failed", "deadline_exceeded", "canceled"]);
export const stateLabel = (s) => (s === "deadline_exceeded" ? "deadline" : s);

export function stateBadge(state, test) {
  return h("span", { class: "badge st-" + state, test, title: state, text: stateLabel(state) });
}

/* ---- progress ---- */

/** A progress bar: {el, set(done, total)}; total null/0 shows an indeterminate bar. */
export function progressBar(test) {
  const fill = h("span", { class: "bar-fill" });
  const el = h("span", {
    class: "bar", role: "progressbar", test, "aria-valuemin": "0", "aria-valuemax": "100",
  }, fill);
  return {
    el,
    set(done, total) {
      const known = total !== null && total !== undefined && total > 0;
      const pct = known ? Math.max(0, Math.min(100, (100 * done) / total)) : 0;
      el.classList.toggle("indeterminate", !known && done !== null && done !== undefined);
      fill.style.width = pct.toFixed(1) + "%";
      el.setAttribute("aria-valuenow", known ? String(pct) : "0");   // exact: tests compare it
      el.title = known ? `${done} of ${total} (${pct.toFixed(0)} %)` : done != null ? `${done} done` : "no progress reported";
    },
  };
}

/* ---- tables whose rows are keyed and updated in place ---- */

/**
 * new KeyedTable({columns, key, rowTest, rowData(item) -> dataset, onRow(tr, item)})
 * column: {title, cls, test, value(item) -> primitive, render(td, item)?}
 * update(items) makes the body show items in that order, touching only
 * cells whose value changed; rows keep their identity across updates.
 */
export class KeyedTable {
  constructor(opts) {
    this.o = opts;
    this.rows = new Map();
    this.tbody = h("tbody");
    const head = h("tr", {}, opts.columns.map((c) => h("th", { class: c.cls, scope: "col", title: c.hint, text: c.title })));
    this.table = h("table", { class: "grid " + (opts.cls || "") }, h("thead", {}, head), this.tbody);
    this.el = h("div", { class: "table-wrap" }, this.table);
  }

  row(item) {
    const k = this.o.key(item);
    let r = this.rows.get(k);
    if (!r) {
      const tr = h("tr", { test: this.o.rowTest, data: this.o.rowData ? this.o.rowData(item) : null });
      const cells = this.o.columns.map((c) => tr.appendChild(h("td", { class: c.cls, test: c.test, data: { label: c.title } })));
      r = { tr, cells, vals: [], fresh: true };
      this.rows.set(k, r);
      if (this.o.onRow) this.o.onRow(tr, item);
    }
    this.o.columns.forEach((c, i) => {
      const v = c.value(item);
      if (!r.fresh && r.vals[i] === v) return;
      r.vals[i] = v;
      if (c.render) c.render(r.cells[i], item, v);
      else setText(r.cells[i], v === null || v === undefined ? "–" : v);
    });
    r.fresh = false;
    return r;
  }

  update(items) {
    const seen = new Set();
    let at = this.tbody.firstChild;
    for (const item of items) {
      const r = this.row(item);
      seen.add(this.o.key(item));
      if (r.tr !== at) this.tbody.insertBefore(r.tr, at);
      else at = at.nextSibling;
    }
    for (const [k, r] of this.rows) {
      if (!seen.has(k)) { r.tr.remove(); this.rows.delete(k); }
    }
  }

  get size() { return this.rows.size; }
}

/* ---- sparklines (SVG through createElementNS) ---- */

const SVG = "http://www.w3.org/2000/svg";

/** {el, set(values)}: a line over a fixed 300-point box, scaled to its max. */
export function sparkline(label, test) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 300 40");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark-svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const area = document.createElementNS(SVG, "path");
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(SVG, "path");
  line.setAttribute("class", "spark-line");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(area, line);
  const el = h("div", { class: "spark", test }, svg);
  return {
    el,
    set(values) {
      const n = values.length;
      if (!n) { line.setAttribute("d", ""); area.setAttribute("d", ""); return; }
      const max = Math.max(...values.map((v) => v || 0)) || 1;
      const x0 = 300 - (n - 1) * (300 / 299);
      let d = "";
      values.forEach((v, i) => {
        const x = (x0 + i * (300 / 299)).toFixed(1);
        const y = (38 - ((v || 0) / max) * 36).toFixed(1);
        d += (i ? "L" : "M") + x + " " + y;
      });
      line.setAttribute("d", d);
      area.setAttribute("d", d + `L300 40L${x0.toFixed(1)} 40Z`);
    },
  };
}

/* ---- dialogs ---- */

/**
 * confirmAction({title, body, ok: "Drop", danger, typeToConfirm: "name"}) -> Promise<boolean>.
 * A <dialog>: Escape or Cancel answers false; with typeToConfirm the OK
 * button stays disabled until the name is typed exactly.
 */
export function confirmAction({ title, body, ok = "Confirm", danger = false, typeToConfirm = null }) {
  return new Promise((resolve) => {
    const okBtn = h("button", { class: "btn " + (danger ? "btn-danger" : "btn-primary"), type: "submit", test: "confirm-ok", text: ok });
    const cancelBtn = h("button", { class: "btn", type: "button", test: "confirm-cancel", text: "Cancel" });
    let input = null;
    if (typeToConfirm !== null) {
      okBtn.disabled = true;
      input = h("input", {
        class: "input", test: "confirm-input", autocomplete: "off", spellcheck: "false",
        "aria-label": "Type the name to confirm",
        on: { input: () => { okBtn.disabled = input.value !== typeToConfirm; } },
      });
    }
    const form = h("form", { class: "dialog-body", method: "dialog" },
      h("h2", { class: "dialog-title", text: title }),
      h("div", { class: "dialog-text" }, body),
      input ? h("label", { class: "dialog-label" }, h("span", {}, "Type ", h("code", { text: typeToConfirm }), " to confirm"), input) : null,
      h("div", { class: "dialog-actions" }, cancelBtn, okBtn));
    const dlg = h("dialog", { class: "dialog", test: "confirm-dialog", "aria-label": title }, form);
    let answer = false;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (okBtn.disabled) return;
      answer = true;
      dlg.close();
    });
    cancelBtn.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    (input || cancelBtn).focus();
  });
}

/* ---- toolbars ---- */

/** First / Previous / Next buttons: {el, set(hasPrev, hasNext)}. */
export function pager({ first, prev, next }) {
  const b = (text, test, fn, label) => h("button", { class: "btn btn-small", type: "button", test, text, "aria-label": label, on: { click: fn } });
  const f = b("« First", "page-first", first, "First page");
  const p = b("‹ Previous", "page-prev", prev, "Previous page");
  const n = b("Next ›", "page-next", next, "Next page");
  return {
    el: h("div", { class: "pager" }, f, p, n),
    set(hasPrev, hasNext) { f.disabled = !hasPrev; p.disabled = !hasPrev; n.disabled = !hasNext; },
  };
}

/** A text filter that calls onChange(value) 250 ms after typing stops; "/" focuses the first one. */
export function filterInput(placeholder, value, test, onChange, opts = {}) {
  let timer = 0;
  const input = h("input", {
    class: "input", type: "search", placeholder, test, value: value || "", spellcheck: "false",
    "aria-label": placeholder, maxlength: opts.maxlength,
    data: opts.primary === false ? null : { filter: "" },
    on: {
      input: () => { clearTimeout(timer); timer = setTimeout(() => onChange(input.value.trim()), 250); },
      keydown: (e) => { if (e.key === "Enter") { clearTimeout(timer); onChange(input.value.trim()); } },
    },
  });
  return input;
}
