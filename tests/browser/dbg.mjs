import net from 'node:net';
import { fixture, viewUrl } from './harness.mjs';
const fx = await fixture();
const target = new URL(fx.srv.url);
const conns = new Map(); let n = 0;
const proxy = net.createServer((c) => {
  const id = ++n; const st = { reqs: [], resp: 0, closed: false };
  conns.set(id, st);
  const s = net.connect(Number(target.port), '127.0.0.1');
  c.on('data', (d) => { const m = d.toString().match(/^(GET|POST|HEAD) \S+/gm); if (m) st.reqs.push(...m); s.write(d); });
  s.on('data', (d) => { const m = d.toString().match(/^HTTP\/1\.1 \d+/gm); if (m) st.resp += m.length; c.write(d); });
  c.on('close', () => { st.closed = true; s.destroy(); });
  s.on('close', () => { st.closed = true; c.destroy(); });
  c.on('error', () => {}); s.on('error', () => {});
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const purl = `http://127.0.0.1:${proxy.address().port}`;
const page = await fx.page();
await page.goto(purl + '/assets/favicon.svg');
await page.evaluate(async (t) => fetch('/api/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: t }) }), fx.srv.token);
for (let round = 0; round < 5; round++) {
  let fails = 0;
  for (let i = 0; i < 10; i++) {
    await page.goto('about:blank');
    await page.goto(`${purl}/${['#/', '#/channels', '#/jobs'][i % 3]}`, { waitUntil: 'domcontentloaded', timeout: 3000 }).catch(() => { fails++; });
  }
  console.log('round', round, 'failed loads', fails);
  if (fails) break;
}
for (const [id, st] of conns) if (!st.closed) console.log(id, st.reqs.length, 'requests', st.resp, 'responses', st.reqs.slice(-3));
await page.close();
await fx.close();
proxy.close();
