'use strict';
// jqclient.d.ts against the runtime, without tsc (not a dependency): every
// value the declarations export exists in the CommonJS and ESM modules and
// the reverse, and each declared class has exactly the public methods and
// getters its runtime class has.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const jq = require('../jqclient.js');

const dts = fs.readFileSync(path.join(__dirname, '..', 'jqclient.d.ts'), 'utf8');
const sorted = (xs) => [...new Set(xs)].sort();

/** Names of `export declare const|function|class NAME`. */
function declaredValues() {
  return sorted([...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
}

/** The body of `export declare class NAME ... {` up to its closing line. */
function classBody(name) {
  const m = new RegExp(`^export declare class ${name}\\b[^{]*\\{\\n([\\s\\S]*?)^\\}`, 'm').exec(dts);
  assert.ok(m, `class ${name} not declared`);
  return m[1];
}

/** Public methods and getters of a runtime class (own prototype chain up to Error/EventEmitter/Object). */
function runtimeMembers(cls) {
  const out = { methods: [], getters: [] };
  for (let p = cls.prototype; p && ![Object.prototype, Error.prototype, require('node:events').prototype].includes(p);
    p = Object.getPrototypeOf(p)) {
    for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(p))) {
      if (k === 'constructor' || k.startsWith('_')) continue;
      if (d.get) out.getters.push(k); else if (typeof d.value === 'function') out.methods.push(k);
    }
  }
  return { methods: sorted(out.methods), getters: sorted(out.getters) };
}

test('the exported values of the .d.ts are those of require() and of import()', async () => {
  const declared = declaredValues();
  assert.deepEqual(sorted(Object.keys(jq)), declared);
  const esm = await import('../jqclient.mjs');
  assert.deepEqual(sorted(Object.keys(esm).filter((k) => k !== 'default')), declared);
  assert.equal(esm.default, jq);
  // importing the CommonJS file itself from ESM gives the names too
  const cjsFromEsm = await import('../jqclient.js');
  assert.deepEqual(sorted(Object.keys(cjsFromEsm).filter((k) => k !== 'default')), declared);
  for (const k of declared) assert.equal(esm[k], jq[k], k);
  // the default export's members, listed once more at the end of the .d.ts
  const m = /^declare const jqclient: \{\n([\s\S]*?)^\};/m.exec(dts);
  assert.deepEqual(sorted([...m[1].matchAll(/^ {2}(\w+): typeof/gm)].map((x) => x[1])), declared);
  // declared functions and classes are functions, constants are not
  for (const [, kind, name] of dts.matchAll(/^export declare (const|function|class) (\w+)/gm)) {
    assert.equal(typeof jq[name] === 'function', kind !== 'const', name);
  }
});

test('each declared class has the runtime class\'s public methods and getters, no more, no less', () => {
  const classes = [...dts.matchAll(/^export declare class (\w+)/gm)].map((m) => m[1]);
  for (const name of classes) {
    const body = classBody(name);
    const methods = sorted([...body.matchAll(/^ {2}(?!constructor\b|static\b|on\()(\w+)(?:<[^>]*>)?\(/gm)].map((x) => x[1]));
    const getters = sorted([...body.matchAll(/^ {2}readonly (\w+):/gm)].map((x) => x[1]).filter((k) => k !== 'ready'));
    const rt = runtimeMembers(jq[name]);
    assert.deepEqual(methods, rt.methods.filter((k) => k !== 'on' || name !== 'Client'), `${name} methods`);
    assert.deepEqual(getters, rt.getters, `${name} getters`);
    for (const [, s] of body.matchAll(/^ {2}static (\w+)\(/gm)) assert.equal(typeof jq[name][s], 'function', `${name}.${s}`);
  }
});

test('package.json: types, exports for import and require, license, no dependencies', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.types, 'jqclient.d.ts');
  assert.deepEqual(pkg.exports['.'], { types: './jqclient.d.ts', import: './jqclient.mjs', require: './jqclient.js' });
  assert.equal(typeof pkg.license, 'string');
  assert.deepEqual(pkg.dependencies, {});
  for (const f of ['jqclient.js', 'jqclient.mjs', 'jqclient.d.ts']) assert.ok(pkg.files.includes(f), f);
});
