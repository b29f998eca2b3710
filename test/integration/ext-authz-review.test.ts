// The review's probes of TrafficPolicy extAuth, kept as tests: each asserts what Envoy / kgateway
// does. P1, P3, P3b, P4, P5, P6, P10 and P14 failed on the first build (6dce8c2); the others
// ("fine") held. One at a time: node --test --test-name-pattern=P1 dist/test/integration/ext-authz-review.test.js
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { authExtension, withAuthServer, type AuthHandler, type AuthServer } from '../helpers/ext-auth-server.js';
import { lastReceived, routePolicy, sampleRoute, startHarness, type Harness } from '../helpers/harness.js';
import { request, pacedUpload } from '../helpers/http-client.js';
import { freePort } from '../helpers/jwks-server.js';
import type { GatewayOptions } from '../../src/gateway.js';

type Handler = AuthHandler;

/** Default: `x-ext-authz: allow` → 200 (x-auth-user: alice), else 403 "denied". */
const defaultHandler: Handler = (req, res) => {
  if (req.headers['x-ext-authz'] === 'allow') {
    res.writeHead(200, { 'x-auth-user': 'alice' });
    res.end();
  } else {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('denied');
  }
};

const extension = (port: number, extAuthExtra = '', httpExtra = '', name = 'probe-auth', forward = '[x-ext-authz]'): string =>
  authExtension(name, port, `    headersToForward: ${forward}\n${extAuthExtra}`, httpExtra);

const GATEWAY_POLICY = (name = 'probe-auth') => `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { namespace: kgateway-system, name: gw-ext-auth-${name} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  extAuth:
    extensionRef: { name: ${name}, namespace: httpbin }
`;

const withAuth = (manifests: (port: number) => string[], fn: (h: Harness, auth: AuthServer) => Promise<void>, opts: { handler?: Handler; gateway?: Partial<GatewayOptions> } = {}) =>
  withAuthServer(opts.handler ?? defaultHandler, manifests, fn, opts.gateway);

/** Sends `head` (CRLF-joined lines, no terminator) raw, reads until close or `ms`. */
function raw(port: number, head: string, body: Buffer | string = '', ms = 3000): Promise<{ text: string; bytes: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    const done = () => {
      const bytes = Buffer.concat(chunks);
      resolve({ text: bytes.toString('latin1'), bytes, closed });
    };
    const t = setTimeout(() => {
      s.destroy();
      done();
    }, ms);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(t);
      done();
    });
    s.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]));
  });
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------

test('P1 a header value undici refuses (DEL in authorization) jams one pooled auth connection per request: after 64, every later check hangs (no requestTimeout, failOpen does not help)', async () => {
  await withAuth(
    (port) => [`${extension(port, '', '      requestTimeout: 400ms\n')}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const first = await raw(h.port, 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer a\x7fb\r\nConnection: close');
      // Envoy's codec refuses the control character: 400, no check.
      for (let i = 0; i < 70; i++) await raw(h.port, 'GET /headers HTTP/1.1\r\nHost: www.example.com\r\nAuthorization: Bearer a\x7fb\r\nConnection: close');
      const before = auth.asked.length;
      // The check is queued in the undici Pool whose 64 Clients are all marked as needing a drain;
      // the abort signal only records a reason before onConnect, so it waits forever.
      const ok = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' }, timeoutMs: 3000 }).catch((e: Error) => e);
      assert.ok(!(ok instanceof Error), `a valid request hangs: ${String(ok)}`);
      assert.equal(ok.status, 200, 'a valid, allowed request must still be checked and allowed');
    },
  );
});

test('P1b (fine) no jam through a raw UTF-8 path: the path is percent-encoded before the check', async () => {
  await withAuth(
    (port) => [`${extension(port, '', '      requestTimeout: 400ms\n')}${GATEWAY_POLICY()}`],
    async (h) => {
      const euro = Buffer.from('/anything/€', 'utf8').toString('latin1');
      const r = await raw(h.port, `GET ${euro} HTTP/1.1\r\nHost: www.example.com\r\nx-ext-authz: allow\r\nConnection: close`);
      for (let i = 0; i < 70; i++) await raw(h.port, `GET ${euro} HTTP/1.1\r\nHost: www.example.com\r\nx-ext-authz: allow\r\nConnection: close`);
      const ok = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' }, timeoutMs: 3000 });
      assert.equal(ok.status, 200);
    },
  );
});

test('P2 (fine) the check path carries the request path\'s UTF-8 bytes (as the upstream gets them)', async () => {
  await withAuth(
    (port) => [`${extension(port)}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const cafe = Buffer.from('/anything/café', 'utf8').toString('latin1');
      const r = await raw(h.port, `GET ${cafe} HTTP/1.1\r\nHost: www.example.com\r\nx-ext-authz: allow\r\nConnection: close`);
      assert.equal(auth.asked[0]!.url, h.echo.received.at(-1)!.url);
    },
  );
});

test('P3 headersToForward x-forwarded-for / x-forwarded-proto / x-request-id: the server gets the values Envoy\'s connection manager set before the filters (client address appended, scheme, a fresh id shared with the upstream)', async () => {
  await withAuth(
    (port) => [`${extension(port, '', '', 'probe-auth', '[x-ext-authz, x-forwarded-for, x-forwarded-proto, x-request-id]')}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const r = await request({ port: h.port, headers: { 'x-ext-authz': 'allow', 'x-forwarded-for': '1.2.3.4', 'x-request-id': 'client-chosen' } });
      assert.equal(r.status, 200);
      const a = auth.asked[0]!.headers;
      // The upstream gets the client address appended (whatever the client's address is here).
      assert.equal(a['x-forwarded-for'], lastReceived(h.echo, 'x-forwarded-for')[0]);
      assert.notEqual(a['x-forwarded-for'], '1.2.3.4');
      assert.equal(a['x-forwarded-proto'], 'http');
      assert.notEqual(a['x-request-id'], 'client-chosen');
      assert.deepEqual(lastReceived(h.echo, 'x-request-id'), [a['x-request-id']]);
    },
  );
});

test('P3b headersToBackend naming x-request-id / x-forwarded-for: the server\'s value reaches the upstream (Envoy setCopy after the connection manager)', async () => {
  const handler: Handler = (_req, res) => {
    res.writeHead(200, { 'x-request-id': 'from-auth', 'x-forwarded-for': '10.9.9.9' });
    res.end();
  };
  await withAuth(
    (port) => [`${extension(port, '', '      authorizationResponse: { headersToBackend: [x-request-id, x-forwarded-for] }\n')}${GATEWAY_POLICY()}`],
    async (h) => {
      const r = await request({ port: h.port });
      assert.equal(r.status, 200);
      assert.deepEqual(lastReceived(h.echo, 'x-request-id'), ['from-auth']);
      assert.deepEqual(lastReceived(h.echo, 'x-forwarded-for'), ['10.9.9.9']);
    },
    { handler },
  );
});

test('P4 a client that leaves during a pending check: the check is cancelled (Envoy resets the auth stream in onDestroy)', async () => {
  const handler: Handler = () => {}; // never answers
  await withAuth(
    (port) => [`${extension(port, '', '      requestTimeout: 3s\n')}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const s = net.connect(h.port, '127.0.0.1');
      s.on('error', () => {});
      s.write('GET /headers HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
      while (auth.asked.length === 0) await sleep(10);
      const t0 = Date.now();
      s.destroy();
      await sleep(1000);
      const a = auth.asked[0]!;
      assert.ok(a.closedAt !== undefined, 'the auth request is still open 1 s after the client left');
    },
    { handler },
  );
});

test('P5 stopping the gateway during a retry back-off: no check is sent after stop (a new undici Pool is made after close)', async () => {
  const handler: Handler = (_req, res) => {
    res.writeHead(503);
    res.end();
  };
  const random = Math.random;
  Math.random = () => 0.99;
  try {
    await withAuth(
      (port) => [`${extension(port, '', '      requestTimeout: 10s\n      retry: { attempts: 1, backoff: { baseInterval: 1500ms } }\n')}${GATEWAY_POLICY()}`],
      async (h, auth) => {
        const pending = request({ port: h.port, timeoutMs: 8000 }).catch((e: Error) => e);
        while (auth.asked.length === 0) await sleep(10);
        Math.random = random;
        // Stop now (the check is waiting ~1.5 s for its retry).
        await h.gateway.stop(0);
        const stoppedAt = Date.now();
        await sleep(2200);
        const r = await pending;
        assert.equal(auth.asked.length, 1, 'a check was sent after the gateway stopped');
      },
      { handler },
    );
  } finally {
    Math.random = random;
  }
});

test('P6 --max-request-body-bytes bounds what withRequestBody holds (as the buffer filter does): a body over it is 413 without being held or sent to the server', async () => {
  await withAuth(
    (port) => [`${extension(port, '    withRequestBody: { maxRequestBytes: 1000000 }\n')}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const r = await request({ port: h.port, method: 'POST', path: '/anything', body: 'x'.repeat(50_000), headers: { 'x-ext-authz': 'allow' } });
      assert.equal(auth.asked.length, 0, 'the server was asked with a 50 kB body though the gateway limit is 1000 bytes');
      assert.equal(r.status, 413);
    },
    { gateway: { maxRequestBodyBytes: 1000 } },
  );
});

test('P8 (fine) HEAD: the check is a HEAD, a denial answers headers only, an allowed HEAD goes on', async () => {
  await withAuth(
    (port) => [`${extension(port)}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const d = await raw(h.port, 'HEAD /headers HTTP/1.1\r\nHost: www.example.com\r\nConnection: close');
      assert.equal(status(d.text), 403);
      assert.equal(auth.asked[0]!.method, 'HEAD');
      const a = await raw(h.port, 'HEAD /headers HTTP/1.1\r\nHost: www.example.com\r\nx-ext-authz: allow\r\nConnection: close');
      assert.equal(status(a.text), 200);
    },
  );
});

test('P9 (fine) slow uploads over 64 KiB: allowPartialMessage with a 100 kB limit, a whole body of 150 kB under a 200 kB limit, and a 1 MB upload that the server denies (no withRequestBody)', async () => {
  await withAuth(
    (port) => [
      `${extension(port, '    withRequestBody: { maxRequestBytes: 100000, allowPartialMessage: true }\n', '', 'partial')}${routePolicy('partial-policy', 'partial-route', '  extAuth: { extensionRef: { name: partial } }')}---\n${sampleRoute('partial-route', '/anything/partial')}`,
      `${extension(port, '    withRequestBody: { maxRequestBytes: 200000 }\n', '', 'whole')}${routePolicy('whole-policy', 'whole-route', '  extAuth: { extensionRef: { name: whole } }')}---\n${sampleRoute('whole-route', '/anything/whole')}`,
      `${extension(port, '', '', 'nobody')}${routePolicy('nobody-policy', 'nobody-route', '  extAuth: { extensionRef: { name: nobody } }')}---\n${sampleRoute('nobody-route', '/anything/nobody')}`,
    ],
    async (h, auth) => {
      const p = await pacedUpload({ port: h.port, path: '/anything/partial', headers: { 'x-ext-authz': 'allow' }, body: Buffer.alloc(300_000, 0x61), watchMs: 100 });
      assert.ok(!(p instanceof Error), String(p));
      assert.equal(p.status, 200);
      assert.equal(auth.asked.at(-1)!.body.length, 100_000);
      assert.equal(auth.asked.at(-1)!.headers['x-envoy-auth-partial-body'], 'true');
      assert.equal(JSON.parse(p.text).data.length, 300_000);
      const w = await pacedUpload({ port: h.port, path: '/anything/whole', headers: { 'x-ext-authz': 'allow' }, body: Buffer.alloc(150_000, 0x62), watchMs: 100 });
      assert.ok(!(w instanceof Error), String(w));
      assert.equal(w.status, 200);
      assert.equal(auth.asked.at(-1)!.body.length, 150_000);
      const n = await pacedUpload({ port: h.port, path: '/anything/nobody', headers: {}, body: Buffer.alloc(1_000_000, 0x63), watchMs: 100 });
      assert.ok(!(n instanceof Error), String(n));
      assert.equal(n.status, 403);
    },
  );
});

test('P10 statusOnError 100 (kgateway allows 100-511): the client gets a final answer, not an interim 1xx followed by nothing', async () => {
  const dead = await freePort();
  await withAuth(
    () => [`${extension(dead, '    statusOnError: 100\n')}${GATEWAY_POLICY()}`],
    async (h) => {
      const r = await raw(h.port, 'GET /headers HTTP/1.1\r\nHost: www.example.com', '', 2000);
      const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      assert.ok(statuses.some((s) => s >= 200), `only interim answers: ${statuses.join(',')}`);
    },
  );
});

test('P11 (fine) clearRouteCache: a header the server sets re-matches the request to another route', async () => {
  const handler: Handler = (_req, res) => {
    res.writeHead(200, { 'x-tier': 'gold' });
    res.end();
  };
  const goldRoute = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: gold, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /anything/rc }, headers: [{ name: x-tier, value: gold }] }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-route, value: gold }] } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
`;
  await withAuth(
    (port) => [`${extension(port, '    clearRouteCache: true\n', '      authorizationResponse: { headersToBackend: [x-tier] }\n')}${routePolicy('rc-policy', 'rc', '  extAuth: { extensionRef: { name: probe-auth } }')}---\n${sampleRoute('rc', '/anything/rc')}${goldRoute}`],
    async (h, auth) => {
      const r = await request({ port: h.port, path: '/anything/rc' });
      assert.equal(r.status, 200);
      assert.deepEqual(lastReceived(h.echo, 'x-route'), ['gold']);
      assert.equal(auth.asked.length, 1);
    },
    { handler },
  );
});

test('P12 (fine) drain: a request whose check is pending when stop() begins is answered', async () => {
  const handler: Handler = (req, res) => setTimeout(() => defaultHandler(req, res, Buffer.alloc(0)), 300);
  await withAuth(
    (port) => [`${extension(port)}${GATEWAY_POLICY()}`],
    async (h, auth) => {
      const pending = request({ port: h.port, headers: { 'x-ext-authz': 'allow' } });
      while (auth.asked.length === 0) await sleep(5);
      const stopping = h.gateway.stop(3000);
      const r = await pending;
      await stopping;
      assert.equal(r.status, 200);
    },
    { handler },
  );
});

test('P14 requestTimeout bounds the whole check, connecting included: an auth server that does not accept (full backlog) answers statusOnError after 300 ms, not after undici\'s 5 s connect timeout', async () => {
  const { spawn } = await import('node:child_process');
  const py = spawn('python3', ['-c', "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(30)"]);
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers = [0, 1, 2].map(() => net.connect(port, '127.0.0.1').on('error', () => {}));
  await sleep(200);
  try {
    const h = await startHarness({ manifests: [`${extension(port, '', '      requestTimeout: 300ms\n')}${GATEWAY_POLICY()}`] });
    try {
      const t0 = Date.now();
      const r = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' } });
      const took = Date.now() - t0;
      assert.equal(r.status, 403);
      assert.ok(took < 1500, `the 300 ms check took ${took} ms`);
    } finally {
      await h.close();
    }
  } finally {
    for (const f of fillers) f.destroy();
    py.kill();
  }
});
