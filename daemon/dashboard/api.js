// The dashboard's one way to jqd: GET reads, POST actions with the CSRF
// token, and EventSource streams that reconnect and tell the page while
// they are down (PROTOCOL.md 16, DASH-API.md).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The session as /api/session said it; the page reads it, only this module writes it. */
export const session = { auth: null, authenticated: false, readonly: true, csrf: null };

const hooks = {
  unauthorized: () => {},      // a 401: the router shows the login view
  connection: () => {},        // (lostCount): streams reconnecting now
};

export function onUnauthorized(fn) { hooks.unauthorized = fn; }
export function onConnection(fn) { hooks.connection = fn; }

/**
 * Query string for a read. jqd takes a value that reads as a JSON number,
 * true, false, null or a "quoted string" as that JSON value, anything
 * else as a string (DASH-API.md "Ops over HTTP"): a string that would be
 * misread — a channel named "123" or "true" — is sent quoted.
 */
const AMBIGUOUS = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|".*)$/s;

export function query(fields) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields || {})) {
    if (v === undefined || v === null || v === "") continue;
    q.set(k, typeof v === "string" && AMBIGUOUS.test(v) ? JSON.stringify(v) : String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

async function parse(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(res.status, "http", `jqd answered HTTP ${res.status} without JSON`);
  }
  if (res.ok && body && body.ok !== false) return body;
  const e = (body && body.error) || {};
  if (res.status === 401) hooks.unauthorized();
  throw new ApiError(res.status, e.code || "http", e.message || `HTTP ${res.status}`);
}

async function send(path, init) {
  let res;
  try {
    res = await fetch(path, { credentials: "same-origin", cache: "no-store", ...init });
  } catch (err) {
    throw new ApiError(0, "network", "cannot reach jqd: " + err.message);
  }
  return parse(res);
}

export function get(op, fields) {
  return send("/api/" + op + query(fields), { headers: { Accept: "application/json" } });
}

export function post(op, body) {
  return send("/api/" + op, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-CSRF-Token": session.csrf || "",
      Accept: "application/json",
    },
    body: JSON.stringify(body || {}),
  });
}

/**
 * A read that shows what a live reply said changed: a call made while one
 * is in flight is folded into one more run after it, so the last change
 * is always read (one at a time, and never a stale answer last).
 * fn handles its own errors.
 */
export function latest(fn) {
  let running = false;
  let again = false;
  return async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      do { again = false; await fn(); } while (again);
    } finally {
      running = false;
    }
  };
}

export async function loadSession() {
  const s = await get("session");
  Object.assign(session, s);
  return session;
}

export async function login(token) {
  await send("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token }),
  });
  return loadSession();
}

export async function logout() {
  try { await post("logout"); } finally { session.authenticated = false; session.csrf = null; }
}

/* ---- streams ---- */

const lost = new Set();
function setLost(stream, isLost) {
  const had = lost.size;
  if (isLost) lost.add(stream); else lost.delete(stream);
  if (lost.size !== had) hooks.connection(lost.size);
}

const WATCH_EVENTS = ["state", "progress", "output", "synced", "lagged"];
const RETRY_MS = [1000, 2000, 5000, 10000];

/**
 * Open an SSE stream: live("/api/live", {op:"stats"}, {reply(r)}) or
 * live("/api/watch", {job: 7}, {state(f), output(f), end(r)}).
 * Handlers: reply, state, progress, output, synced, lagged, end, error(ApiError), open.
 * Returns {close(), connected}. The browser reconnects a dropped stream by itself; a
 * stream refused outright (401, 503) is checked against the session and
 * opened again later, with backoff.
 */
export function live(path, fields, handlers) {
  const url = path + query(fields);
  const stream = { es: null, closed: false, timer: 0, failures: 0 };
  const deliver = (name) => (ev) => {
    if (stream.closed) return;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    handlers[name] && handlers[name](data);
  };

  function open() {
    const es = new EventSource(url, { withCredentials: true });
    stream.es = es;
    es.addEventListener("open", () => {
      stream.failures = 0;
      // Back after a loss: jqd may be another process now, whose CSRF
      // secret (no token: one a process) the page's actions need.
      if (lost.has(stream)) loadSession().catch(() => {});
      setLost(stream, false);
      handlers.open && handlers.open();
    });
    es.addEventListener("reply", deliver("reply"));
    for (const name of WATCH_EVENTS) es.addEventListener(name, deliver(name));
    es.addEventListener("end", (ev) => {
      close();
      deliver("end")(ev);
    });
    es.addEventListener("error", (ev) => {
      if (stream.closed) return;
      if (ev instanceof MessageEvent && ev.data) {        // the server's "error" event: a reply
        let e = {};
        try { e = JSON.parse(ev.data).error || {}; } catch { /* not a reply: a plain error */ }
        // jqd stops (a restart?), or the session ended (logout in another
        // tab, expiry, a new token): as when the connection drops, then the
        // session decides (login view when it is gone).
        if (e.code === "shutting_down" || e.code === "unauthorized") {
          es.close();
          setLost(stream, true);
          refused();
          return;
        }
        close();
        handlers.error && handlers.error(new ApiError(0, e.code || "error", e.message || "error"));
        return;
      }
      setLost(stream, true);
      if (es.readyState === EventSource.CLOSED) refused();
    });
  }

  async function refused() {
    stream.es = null;
    try {
      const s = await loadSession();
      if (!s.authenticated && s.auth !== "none") { close(); hooks.unauthorized(); return; }
    } catch { /* jqd is down: retry below */ }
    if (stream.closed) return;
    const wait = RETRY_MS[Math.min(stream.failures++, RETRY_MS.length - 1)];
    stream.timer = setTimeout(open, wait);
  }

  function close() {
    stream.closed = true;
    clearTimeout(stream.timer);
    if (stream.es) stream.es.close();
    setLost(stream, false);
  }

  open();
  return { close, get connected() { return !!stream.es && stream.es.readyState === EventSource.OPEN; } };
}
