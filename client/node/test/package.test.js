'use strict';
// `npm pack` makes an installable package: packed from a copy of this
// directory, installed OFFLINE into a temporary project (no dependencies,
// so nothing to fetch) and used from an .mjs and a .cjs file against a
// real jqd.  Skipped without npm.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { SKIP, startServer } = require('./harness.js');

const NPM = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0 ? 'npm' : null;
const PKG = path.join(__dirname, '..');

test('npm pack, npm install --offline, then import and require', { skip: SKIP || (!NPM && 'npm is not installed') }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jqnode-pack-'));
  const srv = await startServer();
  try {
    const npmEnv = {
      ...process.env, npm_config_cache: path.join(tmp, 'cache'), npm_config_update_notifier: 'false',
      npm_config_audit: 'false', npm_config_fund: 'false',
    };
    // pack a copy: the source tree may be read-only (make distcheck)
    const src = path.join(tmp, 'src');
    fs.mkdirSync(src);
    const pkg = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8'));
    for (const f of ['package.json', ...pkg.files]) {
      if (fs.existsSync(path.join(PKG, f))) fs.cpSync(path.join(PKG, f), path.join(src, f), { recursive: true });
    }
    const out = execFileSync(NPM, ['pack', '--json', '--pack-destination', tmp], { cwd: src, env: npmEnv, encoding: 'utf8' });
    const [info] = JSON.parse(out);
    const files = info.files.map((f) => f.path).sort();
    assert.ok(files.includes('jqclient.d.ts') && files.includes('jqclient.mjs') && files.includes('lib/client.js'), files.join());
    assert.ok(!files.some((f) => f.startsWith('test/')), files.join());

    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
    execFileSync(NPM, ['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, info.filename)],
      { cwd: app, env: npmEnv, encoding: 'utf8' });
    fs.writeFileSync(path.join(app, 'use.mjs'), `import { Client } from 'jqclient';
import jq from 'jqclient';
const c = await new Client(process.env.JQ_ADDR, { token: null }).ready;
await c.make('pack-esm', 1);
await c.send('pack-esm', { from: 'esm' });
console.log(JSON.stringify(await c.recv('pack-esm')), typeof jq.Worker);
await c.close();
`);
    fs.writeFileSync(path.join(app, 'use.cjs'), `const { connect, OutcomeUnknownError } = require('jqclient');
(async () => {
  const c = await connect(process.env.JQ_ADDR, { token: null });
  await c.ping();
  console.log('cjs', typeof OutcomeUnknownError, require('jqclient/package.json').types);
  await c.close();
})();
`);
    const env = { ...process.env, JQ_ADDR: `unix:${srv.unixPath}` };
    assert.equal(execFileSync(process.execPath, ['use.mjs'], { cwd: app, env, encoding: 'utf8' }), '{"from":"esm"} function\n');
    assert.equal(execFileSync(process.execPath, ['use.cjs'], { cwd: app, env, encoding: 'utf8' }), 'cjs function jqclient.d.ts\n');
  } finally {
    await srv.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
