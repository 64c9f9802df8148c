// A live list of 100 rows a page (channels, jobs, groups): one stream at a
// time on /api/live, pages by a cursor (chans and groups: the last name,
// `after`; jobs: the last id, `before`), rows updated in place.

import * as api from "./api.js";
import { h, setText, emptyState, pageHead, pager } from "./dom.js";
import * as fmt from "./fmt.js";

export const PAGE = 100;

/**
 * livePagedList(root, ctx, spec) -> {restart(), close()}
 * spec: title; table (a KeyedTable); tools: nodes before the pager;
 *   cursor: the page to start at (from the address) or null;
 *   request(cursor) -> the /api/live fields (op included);
 *   rows(reply) -> items; more(reply, items) -> whether a next page exists;
 *   next(items) -> the cursor of the page after these;
 *   empty(first) -> the node shown when a page is empty (first: no cursor);
 *   describe() -> a note after "1–100", e.g. "newest first";
 *   remember(cursor) -> put the cursor in the address.
 */
export function livePagedList(root, ctx, spec) {
  const trail = [];               // the cursors of the pages before this one
  let cursor = spec.cursor ?? null;
  let items = [];
  let stream = null;
  let closed = false;             // the view was left: a late filter change opens nothing
  const status = h("span", { class: "muted", text: "\u00a0" });
  const body = h("div", { class: "table-slot" }, spec.table.el);
  const pg = pager({
    first: () => { trail.length = 0; go(null); },
    prev: () => go(trail.length ? trail.pop() : null),
    next: () => { trail.push(cursor); go(spec.next(items)); },
  });
  root.append(pageHead(spec.title, status),
    h("div", { class: "toolbar " + (spec.toolbarClass || "") }, spec.tools, h("div", { class: "grow" }), pg.el), body);

  function show(r) {
    items = spec.rows(r);
    spec.table.update(items);
    if (!items.length) body.replaceChildren(spec.empty(cursor === null));
    else if (body.firstChild !== spec.table.el) body.replaceChildren(spec.table.el);
    const from = trail.length * PAGE;
    const note = spec.describe ? spec.describe() : "";
    setText(status, items.length ? `${fmt.exact(from + 1)}–${fmt.exact(from + items.length)}${note ? ", " + note : ""}` : "\u00a0");
    pg.set(trail.length > 0 || cursor !== null, spec.more(r, items));
  }

  function go(c) {
    if (closed) return;
    cursor = c;
    spec.remember(cursor);
    if (stream) stream.close();
    stream = api.live("/api/live", spec.request(cursor), {
      reply: show,
      error: (e) => body.replaceChildren(emptyState("jqd refused this request", e.message)),
    });
  }

  go(cursor);
  return {
    restart() { trail.length = 0; go(null); },
    close() { closed = true; if (stream) stream.close(); },
    get connected() { return !!stream && stream.connected; },
  };
}
