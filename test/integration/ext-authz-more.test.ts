// TrafficPolicy `extAuth` (Envoy's ext_authz over HTTP, as kgateway configures it) on the paths
// ext-authz.test.ts does not walk: clearRouteCache, the HTTP service's retry, several levels
// (order, one check per extension, the route's withRequestBody, disable), headersToClientOnSuccess
// on a later local reply, a denied HEAD, a client that leaves during its check, an answer over
// 1 MiB, UTF-8 header values both ways, /config_dump and `check`'s problems. Each through a real
// gateway, the real echo upstream and a real authorization server on a real socket.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { authExtension, extAuthChecks, withAuthServer, type AuthHandler, type AuthServer } from '../helpers/ext-auth-server.js';
import { lastReceived, requestsCounted, routePolicy, sampleRoute, SAMPLE_JWT_EXTENSION, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';
import { compileFiles } from '../../src/config/build.js';
import { MAX_AUTH_RESPONSE_BYTES } from '../../src/auth/ext-authz.js';

type Handler = AuthHandler;

/** The Istio sample's rule: `x-ext-authz: allow` gets 200 (with `extra` headers), anything else 403 with a body. */
const sampleRule =
  (extra: [string, string][] = []): Handler =>
  (req, res) => {
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, extra);
      res.end('ok');
      return;
    }
    res.writeHead(403, { 'content-type': 'text/plain', 'x-ext-authz-check-result': 'denied' });
    res.end('denied by ext_authz');
  };

/** extension(name, port, top, svc): see authExtension. */
const extension = authExtension;

const FORWARD_SAMPLE = '    headersToForward: [x-ext-authz]\n';

/** A `---`-led TrafficPolicy on the sample Gateway (its listener `http` with `sectionName`) naming extension `ext`. */
function gatewayPolicy(name: string, ext: string, sectionName?: string): string {
  return `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { namespace: kgateway-system, name: ${name} }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http${sectionName !== undefined ? `, sectionName: ${sectionName}` : ''} }]
  extAuth:
    extensionRef: { name: ${ext}, namespace: httpbin }
`;
}

/** A `---`-led HTTPRoute `prefix` route with a TrafficPolicy of its own whose extAuth is `spec` (flow YAML). */
function routeWith(name: string, prefix: string, spec: string): string {
  return `---\n${sampleRoute(name, prefix)}${routePolicy(`${name}-policy`, name, `  extAuth: ${spec}`)}`;
}

const withAuth = withAuthServer;
const checks = extAuthChecks;
const utf8Bytes = (latin1: string | string[] | undefined) => Buffer.from(String(latin1), 'latin1');

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// 1. clearRouteCache ------------------------------------------------------------------------------

/** Route `gold`: requests carrying `x-tier: gold` (any path), marked `x-routed: gold` on their way up, with ext auth `zz-gold` of their own. */
const GOLD_ROUTE = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: gold, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: / }, headers: [{ name: x-tier, value: gold }] }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-routed, value: gold }] } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
${routePolicy('gold-policy', 'gold', '  extAuth: { extensionRef: { name: zz-gold } }')}`;

/** The tier server: 200 with `x-tier: gold` (for the backend); under /gold (zz-gold's prefix) a plain 200. */
const tierServer: Handler = (req, res) => {
  res.writeHead(200, req.url!.startsWith('/gold') ? [] : [['x-tier', 'gold']]);
  res.end();
};

const tierManifests = (clear: boolean) => (port: number) => [
  `${extension('tier', port, clear ? '    clearRouteCache: true\n' : '', '      authorizationResponse: { headersToBackend: [x-tier] }\n')}${gatewayPolicy('tier-policy', 'tier')}`,
  `${extension('zz-gold', port, '', '      pathPrefix: /gold\n')}${GOLD_ROUTE}`,
];

test('clearRouteCache: true: a header the server sets (headersToBackend) routes the request again, to the route that matches on it; that route\'s later ext auth filter runs, the one that already ran does not run again', async () => {
  await withAuth(tierServer, tierManifests(true), async (h, auth) => {
    const r = await request({ port: h.port, path: '/headers' });
    assert.equal(r.status, 200);
    assert.deepEqual(lastReceived(h.echo, 'x-tier'), ['gold']);
    assert.deepEqual(lastReceived(h.echo, 'x-routed'), ['gold'], 'routed to the gold route (its RequestHeaderModifier ran)');
    // ext_auth/httpbin/tier, then ext_auth/httpbin/zz-gold (the gold route's, after it by name); tier not again.
    assert.deepEqual(auth.asked.map((a) => a.url), ['/headers', '/gold/headers']);
    assert.equal(checks(h, 'ok'), 2);
  });
});

test('clearRouteCache unset: the request keeps the route it matched first, though the server set the header another route matches on', async () => {
  await withAuth(tierServer, tierManifests(false), async (h, auth) => {
    const r = await request({ port: h.port, path: '/headers' });
    assert.equal(r.status, 200);
    assert.deepEqual(lastReceived(h.echo, 'x-tier'), ['gold'], 'headersToBackend still set');
    assert.deepEqual(lastReceived(h.echo, 'x-routed'), [], 'still on the first route');
    assert.deepEqual(auth.asked.map((a) => a.url), ['/headers']);
    assert.equal(checks(h, 'ok'), 1);
    // The gold route is there: a client that sends the header lands on it (both filters run).
    const direct = await request({ port: h.port, path: '/headers', headers: { 'x-tier': 'gold' } });
    assert.equal(direct.status, 200);
    assert.deepEqual(lastReceived(h.echo, 'x-routed'), ['gold']);
    assert.deepEqual(auth.asked.map((a) => a.url).slice(1), ['/headers', '/gold/headers']);
  });
});

// 2. httpService.retry ----------------------------------------------------------------------------

test('httpService.retry: a 503 then a 200 is allowed (the server asked twice); attempts: 1 asks twice at most, then statusOnError; without retry the first 503 is statusOnError', async () => {
  const seen = new Map<string, number>();
  // Under /flaky: 503 the first time a path is asked, 200 after; under /down: always 503.
  const flaky: Handler = (req, res) => {
    const n = (seen.get(req.url!) ?? 0) + 1;
    seen.set(req.url!, n);
    const ok = req.url!.includes('/flaky') && n > 1;
    res.writeHead(ok ? 200 : 503, { 'x-auth': ok ? 'yes' : 'no' });
    res.end(ok ? 'ok' : 'unavailable');
  };
  await withAuth(
    flaky,
    (port) => [
      `${extension('retrying', port, '', '      retry: { attempts: 1, backoff: { baseInterval: 10ms } }\n')}${routeWith('retry-route', '/anything/retry', '{ extensionRef: { name: retrying } }')}`,
      `${extension('once', port)}${routeWith('once-route', '/anything/once', '{ extensionRef: { name: once } }')}`,
    ],
    async (h, auth) => {
      const count = (url: string) => auth.asked.filter((a) => a.url === url).length;
      const r = await request({ port: h.port, path: '/anything/retry/flaky' });
      assert.equal(r.status, 200);
      assert.equal(h.echo.received.at(-1)!.url, '/anything/retry/flaky', 'the upstream answered');
      assert.equal(count('/anything/retry/flaky'), 2);
      assert.equal(checks(h, 'ok'), 1);
      assert.equal(checks(h, 'error'), 0);

      const down = await request({ port: h.port, path: '/anything/retry/down' });
      assert.equal(down.status, 403);
      assert.equal(down.body, '');
      assert.equal(count('/anything/retry/down'), 2, 'one retry, no more');
      assert.equal(checks(h, 'error'), 1);

      const once = await request({ port: h.port, path: '/anything/once/flaky' });
      assert.equal(once.status, 403);
      assert.equal(once.body, '');
      assert.equal(once.headers['x-auth'], undefined);
      assert.equal(count('/anything/once/flaky'), 1, 'no retry');
      assert.equal(checks(h, 'error'), 2);
      assert.equal(checks(h, 'ok'), 1);
      assert.equal(requestsCounted(h, 'EXT_AUTHZ_ERROR'), 2);
      assert.equal(h.echo.received.length, 1);
    },
  );
});

// 3. Several levels ---------------------------------------------------------------------------------

test('levels: the Gateway\'s, the listener\'s and a route\'s extensions all run, in filter-name order (not level order); the first denial ends it; the same extension at two levels runs once with the route policy\'s withRequestBody; a route\'s disable: {} turns the Gateway\'s and the listener\'s off', async () => {
  // One server; each extension has a pathPrefix of its own (/aa, /mm, /zz) to tell the checks apart.
  const server: Handler = (req, res) => {
    if (req.url!.startsWith('/aa') && req.headers['x-deny'] === 'aa') {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('aa says no');
      return;
    }
    res.writeHead(200, [[`x-from-${req.url!.slice(1, 3)}`, 'yes']]);
    res.end();
  };
  await withAuth(
    server,
    (port) => [
      `${extension('zz-gateway', port, '    headersToForward: [x-deny]\n    withRequestBody: { maxRequestBytes: 16 }\n', '      pathPrefix: /zz\n      authorizationResponse: { headersToBackend: [x-from-zz] }\n')}${gatewayPolicy('gw-policy', 'zz-gateway')}`,
      `${extension('mm-listener', port, '', '      pathPrefix: /mm\n      authorizationResponse: { headersToBackend: [x-from-mm] }\n')}${gatewayPolicy('listener-policy', 'mm-listener', 'http')}`,
      `${extension('aa-route', port, '    headersToForward: [x-deny]\n', '      pathPrefix: /aa\n      authorizationResponse: { headersToBackend: [x-from-aa] }\n')}${routeWith('both', '/anything/both', '{ extensionRef: { name: aa-route } }')}`,
      routeWith('same', '/anything/same', '{ extensionRef: { name: zz-gateway, namespace: httpbin }, withRequestBody: { maxRequestBytes: 4, allowPartialMessage: true } }'),
      routeWith('off', '/anything/off', '{ disable: {} }'),
    ],
    async (h, auth) => {
      const urls = () => auth.asked.map((a) => a.url);
      const plain = await request({ port: h.port, path: '/headers' });
      assert.equal(plain.status, 200);
      assert.deepEqual(urls(), ['/mm/headers', '/zz/headers']);

      const both = await request({ port: h.port, path: '/anything/both' });
      assert.equal(both.status, 200);
      assert.deepEqual(urls().slice(2), ['/aa/anything/both', '/mm/anything/both', '/zz/anything/both'], 'ext_auth/httpbin/aa-route (the route\'s) first');
      for (const x of ['aa', 'mm', 'zz']) assert.deepEqual(lastReceived(h.echo, `x-from-${x}`), ['yes'], x);
      assert.equal(checks(h, 'ok'), 5);

      const denied = await request({ port: h.port, path: '/anything/both', headers: { 'x-deny': 'aa' } });
      assert.equal(denied.status, 401);
      assert.equal(denied.body, 'aa says no');
      assert.deepEqual(urls().slice(5), ['/aa/anything/both'], 'the later filters are not asked');
      assert.equal(checks(h, 'denied'), 1);

      // zz-gateway at the Gateway and at the route: asked once, with the route's body settings.
      const same = await request({ port: h.port, method: 'POST', path: '/anything/same', body: 'x'.repeat(100) });
      assert.equal(same.status, 200);
      assert.deepEqual(urls().slice(6), ['/mm/anything/same', '/zz/anything/same']);
      const zz = auth.asked[7]!;
      assert.equal(zz.body.toString(), 'xxxx');
      assert.equal(zz.headers['x-envoy-auth-partial-body'], 'true');
      assert.equal(JSON.parse(same.body).data, 'x'.repeat(100));
      // Where only the extension's own applies (16 bytes, no partial message): 413, zz not asked.
      const big = await request({ port: h.port, method: 'POST', path: '/headers', body: 'x'.repeat(100) });
      assert.equal(big.status, 413);
      assert.equal(auth.asked.filter((a) => a.url.startsWith('/zz/headers')).length, 1);

      const before = auth.asked.length;
      const off = await request({ port: h.port, path: '/anything/off', headers: { 'x-deny': 'aa' } });
      assert.equal(off.status, 200);
      assert.equal(auth.asked.length, before, 'neither the Gateway\'s nor the listener\'s extension is asked');
    },
  );
});

// 4. headersToClientOnSuccess on a later local reply ----------------------------------------------

test('headersToClientOnSuccess are added to a local reply given after the check: the JWT filter\'s 401 Jwt is missing, and a later ext auth filter\'s denial', async () => {
  const server: Handler = (req, res) => {
    if (req.url!.startsWith('/second')) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('second says no');
      return;
    }
    sampleRule([
      ['set-cookie', 'session=1'],
      ['x-auth-note', 'checked'],
    ])(req, res, Buffer.alloc(0));
  };
  await withAuth(
    server,
    (port) => [
      `${extension('first', port, FORWARD_SAMPLE, '      authorizationResponse: { headersToClientOnSuccess: [set-cookie, x-auth-note] }\n')}${gatewayPolicy('first-policy', 'first')}`,
      `---\n${SAMPLE_JWT_EXTENSION}\n${routePolicy('jwt', 'httpbin', '  jwtAuth: { extensionRef: { name: selfminted-jwt } }')}`,
      `${extension('second', port, '', '      pathPrefix: /second\n')}${routeWith('second-route', '/anything/second', '{ extensionRef: { name: second } }')}`,
    ],
    async (h) => {
      const jwt = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' } });
      assert.equal(jwt.status, 401);
      assert.equal(jwt.body, 'Jwt is missing');
      assert.deepEqual(jwt.headers['set-cookie'], ['session=1']);
      assert.equal(jwt.headers['x-auth-note'], 'checked');

      const second = await request({ port: h.port, path: '/anything/second', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(second.status, 403);
      assert.equal(second.body, 'second says no');
      assert.deepEqual(second.headers['set-cookie'], ['session=1']);
      assert.equal(second.headers['x-auth-note'], 'checked');

      // A denial by the first filter itself: nothing of a success.
      const denied = await request({ port: h.port });
      assert.equal(denied.status, 403);
      assert.equal(denied.headers['x-auth-note'], undefined);
      assert.equal(h.echo.received.length, 0);
    },
  );
});

// 5. A denied HEAD ------------------------------------------------------------------------------------

/** Sends `head` (request line and headers, CRLF-joined, Connection: close) on a raw socket; resolves with all the bytes that came back. */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('raw client timeout')));
    sock.write(`${head}\r\nconnection: close\r\n\r\n`);
  });
}

test('a denied HEAD request gets the server\'s status and headers with no body; the server is asked with HEAD', async () => {
  const server: Handler = (req, res) => {
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="x"', 'x-ext-authz-check-result': 'denied' });
    res.end('go away');
  };
  await withAuth(
    server,
    (port) => [`${extension('head', port)}${gatewayPolicy('head-policy', 'head')}`],
    async (h, auth) => {
      const raw = await rawExchange(h.port, 'HEAD /headers HTTP/1.1\r\nhost: www.example.com:8080');
      const [head, ...rest] = raw.split('\r\n\r\n');
      assert.match(head!, /^HTTP\/1\.1 401 /);
      assert.match(head!, /\r\nwww-authenticate: Basic realm="x"/i);
      assert.match(head!, /\r\nx-ext-authz-check-result: denied/i);
      assert.equal(rest.join('\r\n\r\n'), '', 'no body after the head');
      assert.equal(auth.asked.length, 1);
      assert.equal(auth.asked[0]!.method, 'HEAD');
      assert.equal(checks(h, 'denied'), 1);
      assert.equal(h.echo.received.length, 0);
      // The GET that follows gets the body.
      const get = await request({ port: h.port });
      assert.equal(get.status, 401);
      assert.equal(get.body, 'go away');
    },
  );
});

// 6. A client that leaves during its check ------------------------------------------------------------

const slowServer: Handler = (req, res) => {
  const answer = (): void => {
    if (res.destroyed) return;
    res.writeHead(200, { 'x-auth-user': 'alice' });
    res.end();
  };
  if (req.url!.startsWith('/slow')) setTimeout(answer, 400);
  else answer();
};

/** Sends a GET for `path` and destroys the socket once `asked` says the check is pending. */
async function leaveDuringCheck(h: Harness, auth: AuthServer, path: string): Promise<void> {
  const sock = net.connect(h.port, '127.0.0.1');
  sock.on('error', () => {});
  const before = auth.asked.length;
  sock.write(`GET ${path} HTTP/1.1\r\nhost: www.example.com:8080\r\n\r\n`);
  await until('the check to reach the server', () => auth.asked.length > before);
  sock.destroy();
}

test('a client that goes away while its check is pending: no crash, counted CLIENT_CLOSED, nothing upstream, no check outcome counted; the next request is served', async () => {
  await withAuth(
    slowServer,
    (port) => [`${extension('slow', port, '', '      authorizationResponse: { headersToBackend: [x-auth-user] }\n')}${gatewayPolicy('slow-policy', 'slow')}`],
    async (h, auth) => {
      await leaveDuringCheck(h, auth, '/slow');
      await until('CLIENT_CLOSED to be counted', () => requestsCounted(h, 'CLIENT_CLOSED') === 1);
      // Past the server's answer (400 ms): nothing more happens for that request.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(requestsCounted(h, 'CLIENT_CLOSED'), 1);
      assert.equal(h.echo.received.length, 0, 'never sent upstream');
      for (const result of ['ok', 'denied', 'error', 'failed_open']) assert.equal(checks(h, result), 0, result);
      const next = await request({ port: h.port, path: '/headers' });
      assert.equal(next.status, 200);
      assert.deepEqual(lastReceived(h.echo, 'x-auth-user'), ['alice']);
      assert.equal(checks(h, 'ok'), 1);
    },
  );
});

test('a client that goes away while its check is pending: the check is cancelled (Envoy\'s ext_authz onDestroy cancels its request, which resets the connection to the server)', async () => {
  await withAuth(
    slowServer,
    (port) => [`${extension('slow', port)}${gatewayPolicy('slow-policy', 'slow')}`],
    async (h, auth) => {
      await leaveDuringCheck(h, auth, '/slow');
      // Past the moment the server would have answered (400 ms).
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(auth.cancelled, 1, 'the server saw its check\'s connection close before it answered');
    },
  );
});

// 7. An answer over 1 MiB ------------------------------------------------------------------------------

test('an answer over 1 MiB (a 200 or a denial) is an error: statusOnError with an empty body, EXT_AUTHZ_ERROR; a denial body of exactly 1 MiB goes to the client whole', async () => {
  const server: Handler = (req, res) => {
    const size = req.url!.includes('/exact') ? MAX_AUTH_RESPONSE_BYTES : MAX_AUTH_RESPONSE_BYTES + 1;
    const status = req.url!.includes('/ok') ? 200 : 403;
    res.writeHead(status, { 'content-type': 'text/plain', 'x-other': 'o' });
    res.end(Buffer.alloc(size, 'a'));
  };
  await withAuth(
    server,
    (port) => [`${extension('big', port, '    statusOnError: 502\n')}${gatewayPolicy('big-policy', 'big')}`],
    async (h) => {
      const ok = await request({ port: h.port, path: '/anything/ok' });
      assert.equal(ok.status, 502);
      assert.equal(ok.body, '');
      assert.equal(ok.headers['x-other'], undefined);
      const deny = await request({ port: h.port, path: '/anything/deny' });
      assert.equal(deny.status, 502);
      assert.equal(deny.body, '');
      assert.equal(deny.headers['x-other'], undefined);
      assert.equal(checks(h, 'error'), 2);
      assert.equal(requestsCounted(h, 'EXT_AUTHZ_ERROR'), 2);
      const exact = await request({ port: h.port, path: '/anything/exact' });
      assert.equal(exact.status, 403);
      assert.equal(exact.raw.length, MAX_AUTH_RESPONSE_BYTES);
      assert.equal(exact.headers['x-other'], 'o');
      assert.equal(checks(h, 'denied'), 1);
      assert.equal(h.echo.received.length, 0);
    },
  );
});

// 8. UTF-8 header values ----------------------------------------------------------------------------

test('UTF-8 header values: a forwarded client header reaches the server as its UTF-8 bytes; the server\'s headersToBackend reach the upstream, its headersToClientOnSuccess and denial headers the client, as the same bytes', async () => {
  // Non-ASCII in the middle of the value: uWS cuts it at either end of a request value (README,
  // "Known differences"), a limit of the HTTP front end, not of ext auth.
  const name = 'café au lait, señor';
  const server: Handler = (req, res) => {
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, [
        ['x-user', Buffer.from('Zoë Ærø', 'utf8').toString('latin1')],
        ['x-greeting', Buffer.from('héllo wörld', 'utf8').toString('latin1')],
      ]);
      res.end();
      return;
    }
    res.writeHead(403, [['x-reason', Buffer.from('refusé', 'utf8').toString('latin1')]]);
    res.end('refusé');
  };
  await withAuth(
    server,
    (port) => [`${extension('utf8', port, '    headersToForward: [x-ext-authz, x-name]\n', '      authorizationResponse: { headersToBackend: [x-user], headersToClientOnSuccess: [x-greeting] }\n')}${gatewayPolicy('utf8-policy', 'utf8')}`],
    async (h, auth) => {
      // node:http writes header strings as latin1: these characters are the UTF-8 bytes of `name`.
      const sent = Buffer.from(name, 'utf8').toString('latin1');
      const r = await request({ port: h.port, headers: { 'x-ext-authz': 'allow', 'x-name': sent } });
      assert.equal(r.status, 200);
      assert.deepEqual(utf8Bytes(auth.asked[0]!.headers['x-name']), Buffer.from(name, 'utf8'));
      assert.deepEqual(lastReceived(h.echo, 'x-user').map((v) => utf8Bytes(v).toString('utf8')), ['Zoë Ærø']);
      assert.deepEqual(lastReceived(h.echo, 'x-name').map((v) => utf8Bytes(v).toString('utf8')), [name]);
      assert.equal(utf8Bytes(r.headers['x-greeting']).toString('utf8'), 'héllo wörld');

      const d = await request({ port: h.port, headers: { 'x-name': sent } });
      assert.equal(d.status, 403);
      assert.equal(utf8Bytes(d.headers['x-reason']).toString('utf8'), 'refusé');
      assert.equal(d.raw.toString('utf8'), 'refusé');
    },
  );
});

// 9. /config_dump and check -----------------------------------------------------------------------

interface DumpedRoute {
  route: string;
  match: { path: { value: string } };
  auth: { extAuth?: unknown };
}

test('/config_dump lists each route\'s ext auth filters in order (server, timeout, failOpen, statusOnError, body settings, the policy) or the disable; check warns about a headersToForward name with a capital (it never matches) and makes an extension whose backend has BackendConfigPolicy tls invalid', async () => {
  const tls = `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: BackendConfigPolicy
metadata: { name: tls-auth, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: tls-ext-server }]
  tls: { sni: auth.internal, wellKnownCACertificates: System }
`;
  await withAuth(
    sampleRule(),
    (port) => [
      `${extension('dumped', port, '    headersToForward: [X-Ext-Authz]\n    failOpen: true\n    statusOnError: 401\n    withRequestBody: { maxRequestBytes: 64 }\n', '      pathPrefix: /verify\n      requestTimeout: 500ms\n')}${gatewayPolicy('dumped-policy', 'dumped')}`,
      `${extension('second', port, '    percentageEnabled: 50\n')}${routeWith('two', '/anything/two', '{ extensionRef: { name: second }, withRequestBody: { maxRequestBytes: 8, allowPartialMessage: true } }')}`,
      routeWith('off', '/anything/off', '{ disable: {} }'),
      `${extension('tls-ext', port)}${tls}${routeWith('tls', '/anything/tls', '{ extensionRef: { name: tls-ext } }')}`,
    ],
    async (h, auth) => {
      const dump = JSON.parse(configDumpText(h.gateway.snapshot)) as { listeners: { routeDefs: Record<string, DumpedRoute> }[] };
      const defs = dump.listeners.flatMap((l) => Object.values(l.routeDefs));
      const of = (route: string) => defs.find((d) => d.route === `httpbin/${route}`)?.auth.extAuth;
      const dumped = { filter: 'ext_auth/httpbin/dumped', server: `127.0.0.1:${auth.port}/verify`, timeoutMs: 500, failOpen: true, statusOnError: 401, withRequestBody: { maxRequestBytes: 64, allowPartialMessage: false }, from: 'TrafficPolicy/kgateway-system/dumped-policy@Gateway' };
      assert.deepEqual(of('httpbin'), [dumped]);
      assert.deepEqual(of('two'), [
        dumped,
        { filter: 'ext_auth/httpbin/second', server: `127.0.0.1:${auth.port}`, timeoutMs: 2000, failOpen: false, statusOnError: 403, withRequestBody: { maxRequestBytes: 8, allowPartialMessage: true }, percentageEnabled: 50, from: 'TrafficPolicy/httpbin/two-policy@HTTPRoute' },
      ]);
      assert.deepEqual(of('off'), { disabled: true, from: 'TrafficPolicy/httpbin/off-policy@HTTPRoute' });

      // check: the same compile from the files.
      const snap = await compileFiles([h.dir], { generation: 1 });
      for (const problems of [snap.problems, h.gateway.snapshot.problems]) {
        const warn = problems.find((p) => p.resource === 'GatewayExtension/httpbin/dumped' && p.path === 'spec.extAuth.headersToForward[0]');
        assert.equal(warn?.severity, 'warning');
        assert.match(warn!.message, /"X-Ext-Authz" never matches.*write "x-ext-authz"/);
        const tlsErr = problems.find((p) => p.resource === 'GatewayExtension/httpbin/tls-ext' && p.path === 'spec.extAuth.httpService.backendRef');
        assert.equal(tlsErr?.severity, 'error');
        assert.match(tlsErr!.message, /TLS to an authorization server is not supported/);
        assert.equal(problems.filter((p) => p.resource === 'GatewayExtension/httpbin/dumped' && p.severity === 'error').length, 0);
      }

      // The capitalised name matches nothing: x-ext-authz is not forwarded, the check denies.
      const r = await request({ port: h.port, path: '/headers', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(r.status, 403);
      assert.equal(auth.asked.at(-1)!.headers['x-ext-authz'], undefined);
      const t = await request({ port: h.port, path: '/anything/tls' });
      assert.equal(t.status, 500);
      assert.equal(t.body, 'invalid route configuration detected and replaced with a direct response.');
    },
  );
});
