// Numbers, sizes, times and command lines as a person reads them.
// Every function takes a value from a protocol reply and returns a string.

const SI = ["", " k", " M", " G", " T"];

/** 1234 -> "1.2 k"; small integers stay exact. */
export function num(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const a = Math.abs(n);
  if (a < 1000) return Number.isInteger(n) ? String(n) : n.toFixed(a < 10 ? 1 : 0);
  let i = 0;
  let v = a;
  while (v >= 1000 && i < SI.length - 1) { v /= 1000; i++; }
  return (n < 0 ? "-" : "") + v.toFixed(v < 10 ? 1 : 0) + SI[i];
}

/** An exact count with thousands separators, for titles and big figures. */
export function exact(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

export function rate(perSec) {
  return perSec === null || perSec === undefined ? "–" : num(perSec) + "/s";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[i];
}

/** Milliseconds of latency: "0.84 ms", "12 ms", "1.4 s". */
export function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 10) return v.toFixed(2) + " ms";
  if (v < 1000) return v.toFixed(0) + " ms";
  return (v / 1000).toFixed(1) + " s";
}

/** A duration in milliseconds: "350 ms", "12 s", "3 min 4 s", "2 h 5 min", "3 d 4 h". */
export function duration(d) {
  if (d === null || d === undefined || d < 0) return "–";
  if (d < 1000) return Math.round(d) + " ms";
  const s = Math.floor(d / 1000);
  if (s < 60) return (d < 10000 ? (d / 1000).toFixed(1) : s) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
  const h = Math.floor(m / 60);
  if (h < 24) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
  const days = Math.floor(h / 24);
  return days + " d" + (h % 24 ? " " + (h % 24) + " h" : "");
}

/** A unix-ms time relative to now: "3 s ago", "in 2 min", "just now". */
export function ago(t, now = Date.now()) {
  if (t === null || t === undefined) return "–";
  const d = now - t;
  if (Math.abs(d) < 1000) return "just now";
  const coarse = duration(Math.abs(d)).replace(/ \d+ (s|min|h)$/, "").replace(/^(\d+)\.\d s$/, "$1 s");
  return d > 0 ? coarse + " ago" : "in " + coarse;
}

/** The exact local time, for a title attribute: "2026-12-08 02:49:22.123". */
export function when(t) {
  if (t === null || t === undefined) return "";
  const d = new Date(t);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** One argv element as a POSIX shell would need it. */
export function shellQuote(s) {
  if (s !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

export function shellLine(argv) {
  return (argv || []).map(shellQuote).join(" ");
}

/**
 * Pretty JSON of a channel value: what fits on a line stays on one line,
 * bigger objects and arrays open up. Bounded so one huge value cannot
 * freeze the page.
 */
export function prettyJson(v, maxChars = 4000) {
  const s = layoutJson(v, "");
  return s.length > maxChars ? s.slice(0, maxChars) + "\n… (" + bytes(JSON.stringify(v).length) + " in all)" : s;
}

function layoutJson(v, indent) {
  const flat = JSON.stringify(v, null, 1);   // newlines occur only between members
  if (flat === undefined) return "null";
  if (v === null || typeof v !== "object") return flat;
  const line = flat.replace(/\n */g, " ");
  if (line.length + indent.length <= 72) return line;
  const inner = indent + "  ";
  if (Array.isArray(v)) return "[\n" + v.map((x) => inner + layoutJson(x, inner)).join(",\n") + "\n" + indent + "]";
  return "{\n" + Object.entries(v).map(([k, x]) => inner + JSON.stringify(k) + ": " + layoutJson(x, inner)).join(",\n") + "\n" + indent + "}";
}
