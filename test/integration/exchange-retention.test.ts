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
import type { ClientExchange } from '../../src/http/exchange.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * 20 requests over 20 keep-alive connections (left open, as a client under load leaves them),
 * answered by `handle`; the exchanges are kept; then a full GC: how many of the objects
 * `track`ed in the handler are still reachable.
 */
async function keptExchanges(method: 'GET' | 'POST', handle: (ex: ClientExchange, track: (o: object) => void) => void): Promise<number> {
  const refs: WeakRef<object>[] = [];
  const exchanges: ClientExchange[] = [];
  const server = new HttpServer({ host: '127.0.0.1', maxRequestHeadersBytes: 60 * 1024 }, (_port, _req, ex) => {
    exchanges.push(ex);
    handle(ex, (o) => refs.push(new WeakRef(o)));
  }, () => {});
  const port = await server.listen(8080, 0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  try {
    const send = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/', method, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end(method === 'POST' ? 'x'.repeat(1000) : undefined);
      });
    const answers = await Promise.all(Array.from({ length: 20 }, send));
    for (const a of answers) assert.deepEqual(a, { status: 200, body: 'ok' });
    assert.equal(exchanges.length, 20);
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    return refs.filter((r) => r.deref() !== undefined).length;
  } finally {
    agent.destroy();
    server.close();
  }
}

/** What a proxied request's callbacks reach: its proxy exchange, request and headers. */
const heldByRequest = () => ({ headers: new Array(100).fill('x-some-header') });

test('after the answer, the callback a request registered for its abort (and what it holds) can be collected', async () => {
  const alive = await keptExchanges('GET', (ex, track) => {
    const held = heldByRequest();
    track(held);
    ex.onAbort(() => void held.headers.length);
    // Answered on a later turn, as a proxied request is (uWS's aborted handler is registered).
    setImmediate(() => ex.respond(200, ['content-type', 'text/plain'], 'ok'));
  });
  assert.equal(alive, 0, `${alive} of 20 finished exchanges still reach their abort callback`);
});

test('after the answer, the reader of a request body that has ended (and what it holds) can be collected', async () => {
  const alive = await keptExchanges('POST', (ex, track) => {
    const held = heldByRequest();
    track(held);
    let bytes = 0;
    ex.onBody((chunk, isLast) => {
      void held.headers.length;
      bytes += chunk.length;
      // Answered once the whole body is in, as an upstream that reads it first does.
      if (isLast) setImmediate(() => ex.respond(200, ['content-type', 'text/plain'], bytes === 1000 ? 'ok' : `read ${bytes}`));
    });
  });
  assert.equal(alive, 0, `${alive} of 20 finished exchanges still reach their body reader`);
});
