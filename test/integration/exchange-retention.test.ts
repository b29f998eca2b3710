// A finished client exchange lets go of what waited on its abort (the proxy exchange, the request
// and its headers). An exchange can itself be kept a while after its answer: V8's scavenges keep
// whatever an old object still points at, dead or not (which object did so under load was not
// found: bench/HISTORY.md). Holding on to its abort callback made that every proxied request's
// proxy exchange, request and headers: ~0.6 MB more copied and promoted per scavenge under load,
// ~5% more CPU per request (bench/tools/gc-survival.mjs). Here the exchanges are kept on purpose.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HttpServer } from '../../src/http/server.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('after the answer, the callback a request registered for its abort (and what it holds) can be collected', async (t) => {
  const refs: WeakRef<object>[] = [];
  const exchanges: unknown[] = [];
  const server = new HttpServer({ host: '127.0.0.1', maxRequestHeadersBytes: 60 * 1024 }, (_port, _req, ex) => {
    // What a proxied request's abort callback reaches: its proxy exchange, request and headers.
    const held = { headers: new Array(100).fill('x-some-header') };
    refs.push(new WeakRef(held));
    ex.onAbort(() => void held.headers.length);
    exchanges.push(ex);
    // Answered on a later turn, as a proxied request is (uWS's aborted handler is registered).
    setImmediate(() => ex.respond(200, ['content-type', 'text/plain'], 'ok'));
  }, () => {});
  const port = await server.listen(8080, 0);
  try {
    // 20 keep-alive connections, one request each, left open as a client under load leaves them.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          })
          .on('error', reject);
      });
    t.after(() => agent.destroy());
    const answers = await Promise.all(Array.from({ length: 20 }, get));
    for (const a of answers) assert.deepEqual(a, { status: 200, body: 'ok' });
    assert.equal(refs.length, 20);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    assert.equal(exchanges.length, 20);
    assert.equal(alive, 0, `${alive} of 20 finished exchanges still reach their abort callback`);
  } finally {
    server.close();
  }
});
