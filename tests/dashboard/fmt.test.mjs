// The dashboard's pure helpers (daemon/dashboard/fmt.js, api.js query):
// numbers, sizes, times, shell quoting, JSON layout, query values.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

// The page's files are ES modules named .js with no package.json beside
// them (jqd serves them as they are): load their text as modules.
async function load(name) {
  const src = readFileSync(new URL("../../daemon/dashboard/" + name, import.meta.url), "utf8");
  return import("data:text/javascript;charset=utf-8," + encodeURIComponent(src));
}
const fmt = await load("fmt.js");
const { query } = await load("api.js");

test("numbers and units", () => {
  assert.equal(fmt.num(999), "999");
  assert.equal(fmt.num(1234), "1.2 k");
  assert.equal(fmt.num(56000), "56 k");
  assert.equal(fmt.num(1.5e6), "1.5 M");
  assert.equal(fmt.num(null), "–");
  assert.equal(fmt.rate(1234), "1.2 k/s");
  assert.equal(fmt.bytes(512), "512 B");
  assert.equal(fmt.bytes(3.4e6), "3.4 MB");
  assert.equal(fmt.ms(0.84), "0.84 ms");
  assert.equal(fmt.ms(12.3), "12 ms");
  assert.equal(fmt.ms(1400), "1.4 s");
});

test("durations and relative times", () => {
  assert.equal(fmt.duration(350), "350 ms");
  assert.equal(fmt.duration(7500), "7.5 s");
  assert.equal(fmt.duration(184000), "3 min 4 s");
  assert.equal(fmt.duration(7500000), "2 h 5 min");
  assert.equal(fmt.duration(3 * 86400000 + 4 * 3600000), "3 d 4 h");
  const now = 1_800_000_000_000;
  assert.equal(fmt.ago(now - 500, now), "just now");
  assert.equal(fmt.ago(now - 3000, now), "3 s ago");
  assert.equal(fmt.ago(now - 184000, now), "3 min ago");
  assert.equal(fmt.ago(now + 120000, now), "in 2 min");
  assert.equal(fmt.ago(null, now), "–");
});

test("argv as a shell line", () => {
  assert.equal(fmt.shellLine(["echo", "hello"]), "echo hello");
  assert.equal(fmt.shellLine(["sh", "-c", "echo \"$1\"; it's", "a b", ""]), "sh -c 'echo \"$1\"; it'\\''s' 'a b' ''");
});

test("JSON: short values on one line, long ones opened up, huge ones cut", () => {
  assert.equal(fmt.prettyJson({ a: [1, 2] }), '{ "a": [ 1, 2 ] }');
  assert.equal(fmt.prettyJson("x\ny"), '"x\\ny"');
  const long = { name: "x".repeat(40), tags: ["a", "b"], more: "y".repeat(40) };
  assert.equal(fmt.prettyJson(long), `{\n  "name": "${"x".repeat(40)}",\n  "tags": [ "a", "b" ],\n  "more": "${"y".repeat(40)}"\n}`);
  const huge = fmt.prettyJson("z".repeat(10000), 100);
  assert.ok(huge.length < 130 && huge.includes("in all"));
});

test("query values: strings jqd would read as another type are quoted", () => {
  assert.equal(query({ op: "chans", prefix: "jobs", limit: 100 }), "?op=chans&prefix=jobs&limit=100");
  assert.equal(query({ chan: "123" }), "?chan=%22123%22");
  assert.equal(query({ chan: "true" }), "?chan=%22true%22");
  assert.equal(query({ chan: "-1.5e3" }), "?chan=%22-1.5e3%22");
  assert.equal(query({ chan: '"q' }), "?chan=%22%5C%22q%22");
  assert.equal(query({ chan: "1e5x", after: undefined, prefix: "" }), "?chan=1e5x");
  assert.equal(query({}), "");
});
