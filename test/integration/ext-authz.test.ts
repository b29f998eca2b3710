// TrafficPolicy `extAuth` with a GatewayExtension `extAuth.httpService` (Envoy's ext_authz with an
// HTTP service, as kgateway configures it), through a real gateway, a real echo upstream and a
// real authorization server on a real socket: what the server is asked, what an allowed request
// carries upstream, what a denied or failed check answers, and the kgateway docs' example.
import test from 'node:test';
import assert from 'node:assert/strict';
import { authExtension, extAuthChecks, withAuthServer, type AuthHandler, type AuthServer } from '../helpers/ext-auth-server.js';
import { lastReceived, routePolicy, sampleRoute, SAMPLE_JWT_EXTENSION, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { freePort } from '../helpers/jwks-server.js';

const DENIED_BODY = 'denied by ext_authz for not found header `x-ext-authz: allow` in the request';

/**
 * Like the Istio sample server the kgateway docs use: `x-ext-authz: allow` gets 200 (with headers
 * for the upstream and the client), anything else 403 with its body. A path under /status/N
 * answers N; /slow/MS waits MS first.
 */
const sampleServer: AuthHandler = (req, res) => {
  const answer = (): void => {
    const status = /\/status\/([0-9]{3})/.exec(req.url!)?.[1];
    if (status !== undefined) {
      res.writeHead(Number(status), { 'content-type': 'text/plain', location: 'https://login.example.com/', 'x-other': 'o' });
      res.end(`status ${status}`);
      return;
    }
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, [
        ['x-ext-authz-check-result', 'allowed'],
        ['x-auth-user', 'alice'],
        ['x-envoy-auth-headers-to-remove', 'x-remove-me, , host'],
        ['set-cookie', 'session=1'],
        ['set-cookie', 'theme=dark'],
      ]);
      res.end('ok');
      return;
    }
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'x-ext-authz-check-result': 'denied', 'www-authenticate': 'Basic realm="x"', 'x-other': 'o' });
    res.end(DENIED_BODY);
  };
  const slow = /\/slow\/([0-9]+)/.exec(req.url!)?.[1];
  if (slow !== undefined) setTimeout(answer, Number(slow));
  else answer();
};

/** The docs' GatewayExtension, its backend a Static Backend on `port`, with `extAuthExtra` under extAuth. */
const extension = (port: number, extAuthExtra = '', httpExtra = '', name = 'basic-ext-auth'): string => authExtension(name, port, `    headersToForward: [x-ext-authz]\n${extAuthExtra}`, httpExtra);

const GATEWAY_POLICY = `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { namespace: kgateway-system, name: gateway-ext-auth-policy }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  extAuth:
    extensionRef: { name: basic-ext-auth, namespace: httpbin }
`;

const withAuth = (manifests: (authPort: number) => string[], fn: (h: Harness, auth: AuthServer) => Promise<void>) => withAuthServer(sampleServer, manifests, fn);
const checks = extAuthChecks;

test('the kgateway docs\' HTTP ext auth example: 403 with the server\'s body without x-ext-authz: allow, 200 with it; the server is asked the method, path and Host with only the default headers and headersToForward; a route-level disable lets requests through unasked', async () => {
  await withAuth(
    (port) => [`${extension(port)}${GATEWAY_POLICY}`],
    async (h, auth) => {
      const denied = await request({ port: h.port, path: '/headers?a=1', headers: { 'x-other': 'kept from the server', authorization: 'Bearer abc', 'user-agent': 'ua' } });
      assert.equal(denied.status, 403);
      assert.equal(denied.body, DENIED_BODY);
      assert.equal(denied.headers['content-type'], 'text/plain; charset=utf-8');
      // Every header of the denial but Host (no headersToClient): the server's own, not the client's.
      assert.equal(denied.headers['x-ext-authz-check-result'], 'denied');
      assert.equal(denied.headers['www-authenticate'], 'Basic realm="x"');
      assert.equal(denied.headers['x-other'], 'o');
      assert.equal(h.echo.received.length, 0, 'nothing reached the upstream');
      const a = auth.asked[0]!;
      assert.equal(a.method, 'GET');
      assert.equal(a.url, '/headers?a=1');
      assert.equal(a.headers['host'], 'www.example.com:8080');
      assert.equal(a.headers['authorization'], 'Bearer abc');
      // Envoy writes content-length: 0; undici, jwtgate's client, leaves it off a GET without a body.
      assert.equal(a.headers['content-length'], undefined);
      assert.equal(a.headers['x-envoy-internal'], 'true');
      assert.equal(a.headers['x-envoy-expected-rq-timeout-ms'], '2000');
      assert.equal(a.headers['user-agent'], undefined, 'not forwarded');
      assert.equal(a.headers['x-other'], undefined, 'not forwarded');
      assert.equal(a.headers['x-ext-authz'], undefined);

      const allowed = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' } });
      assert.equal(allowed.status, 200);
      assert.equal(auth.asked[1]!.headers['x-ext-authz'], 'allow', 'headersToForward');
      assert.deepEqual(lastReceived(h.echo, 'x-ext-authz'), ['allow']);
      // Nothing of the server's answer goes on by default.
      assert.deepEqual(lastReceived(h.echo, 'x-ext-authz-check-result'), []);
      assert.equal(allowed.headers['set-cookie'], undefined);
      assert.equal(checks(h, 'denied'), 1);
      assert.equal(checks(h, 'ok'), 1);
      assert.match(h.gateway.renderMetrics(), /jwtgate_requests_total\{result="EXT_AUTHZ_DENIED"\} 1/);

      await import('node:fs/promises').then((fs) => fs.writeFile(`${h.dir}/90-disable.yaml`, routePolicy('route-ext-auth-policy', 'httpbin', '  extAuth: { disable: {} }')));
      assert.deepEqual(h.gateway.extAuthServers, [`127.0.0.1:${auth.port}`]);
      assert.equal((await h.gateway.reload()).ok, true);
      // No route asks the server any more (the only route disables ext auth): its connections are closed.
      assert.deepEqual(h.gateway.extAuthServers, []);
      const before = auth.asked.length;
      const open = await request({ port: h.port });
      assert.equal(open.status, 200);
      assert.equal(auth.asked.length, before, 'the server is not asked where the route disables ext auth');
      // The disable removed again: the server is asked again, over new connections.
      await import('node:fs/promises').then((fs) => fs.rm(`${h.dir}/90-disable.yaml`));
      assert.equal((await h.gateway.reload()).ok, true);
      assert.equal((await request({ port: h.port })).status, 403);
      assert.equal((await request({ port: h.port, headers: { 'x-ext-authz': 'allow' } })).status, 200);
      assert.deepEqual(h.gateway.extAuthServers, [`127.0.0.1:${auth.port}`]);
    },
  );
});

test('an allowed request: headersToBackend are set over the client\'s, x-envoy-auth-headers-to-remove removes fields (never host), headersToClientOnSuccess are added to the answer; pathPrefix and headersToAdd shape the check', async () => {
  const extra = `      pathPrefix: /verify
      authorizationRequest:
        headersToAdd: { x-forwarded-host: gateway.example.com, x-client: "%REQ(x-ext-authz)%-%REQ(:method)%" }
      authorizationResponse:
        headersToBackend: [x-auth-user]
        headersToClientOnSuccess: [set-cookie]
`;
  await withAuth(
    (port) => [`${extension(port, '', extra)}${GATEWAY_POLICY}`],
    async (h, auth) => {
      const r = await request({ port: h.port, path: '/headers?q=1', headers: { 'x-ext-authz': 'allow', 'x-auth-user': 'mallory', 'x-remove-me': 'gone', 'x-forwarded-host': 'client' } });
      assert.equal(r.status, 200);
      const a = auth.asked[0]!;
      assert.equal(a.url, '/verify/headers?q=1');
      assert.equal(a.headers['x-forwarded-host'], 'gateway.example.com', 'headersToAdd overwrite');
      assert.equal(a.headers['x-client'], 'allow-GET');
      assert.deepEqual(lastReceived(h.echo, 'x-auth-user'), ['alice']);
      assert.deepEqual(lastReceived(h.echo, 'x-remove-me'), []);
      assert.deepEqual(lastReceived(h.echo, 'host'), ['www.example.com:8080']);
      assert.deepEqual(lastReceived(h.echo, 'x-envoy-auth-headers-to-remove'), []);
      assert.deepEqual(lastReceived(h.echo, 'x-ext-authz-check-result'), []);
      assert.deepEqual(r.headers['set-cookie'], ['session=1', 'theme=dark']);
      assert.equal(r.headers['x-auth-user'], undefined);
    },
  );
});

test('a denial with headersToClient passes those and location, www-authenticate; its status as the server gave it (a 302 to a login page, a 401); a body without a content-type goes as text/plain', async () => {
  const extra = `      authorizationResponse:
        headersToClient: [x-other]
`;
  await withAuth(
    (port) => [`${extension(port, '', extra)}${GATEWAY_POLICY}`],
    async (h) => {
      const r = await request({ port: h.port, path: '/status/302' });
      assert.equal(r.status, 302);
      assert.equal(r.headers['location'], 'https://login.example.com/');
      assert.equal(r.headers['x-other'], 'o');
      assert.equal(r.headers['content-type'], 'text/plain', 'not passed on: not in headersToClient (Envoy then writes text/plain)');
      assert.equal(r.body, 'status 302');
      const d = await request({ port: h.port, path: '/headers' });
      assert.equal(d.status, 403);
      assert.equal(d.headers['www-authenticate'], 'Basic realm="x"');
      assert.equal(d.headers['x-ext-authz-check-result'], undefined);
      const u = await request({ port: h.port, path: '/status/401' });
      assert.equal(u.status, 401);
      // Only exactly 200 allows: a 204 is a denial too.
      const n = await request({ port: h.port, path: '/status/204' });
      assert.equal(n.status, 204);
      assert.equal(h.echo.received.length, 0);
    },
  );
});

test('errors: a 5xx, a timeout or a server that is down answer statusOnError (403 by default) with an empty body; failOpen lets the request through; retries ask again', async () => {
  const dead = await freePort();
  await withAuth(
    (port) => [
      `${extension(port, '', '      requestTimeout: 300ms\n')}${GATEWAY_POLICY}`,
      `${extension(dead, '    statusOnError: 503\n', '', 'down')}${routePolicy('down-policy', 'down-route', '  extAuth: { extensionRef: { name: down } }')}---\n${sampleRoute('down-route', '/down')}`,
      `${extension(dead, '    failOpen: true\n', '', 'open')}${routePolicy('open-policy', 'open-route', '  extAuth: { extensionRef: { name: open } }')}---\n${sampleRoute('open-route', '/anything/open')}`,
    ],
    async (h, auth) => {
      const e500 = await request({ port: h.port, path: '/status/500' });
      assert.equal(e500.status, 403);
      assert.equal(e500.body, '');
      assert.equal(e500.headers['x-other'], undefined, 'nothing of a failed check\'s answer');
      assert.equal(e500.headers['content-type'], undefined);
      const slow = await request({ port: h.port, path: '/slow/2000' });
      assert.equal(slow.status, 403);
      assert.equal(slow.body, '');
      // The Gateway's check (allowed) runs first, then the route's.
      const down = await request({ port: h.port, path: '/down', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(down.status, 503);
      assert.equal(down.body, '');
      const open = await request({ port: h.port, path: '/anything/open', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(open.status, 200);
      assert.equal(checks(h, 'error'), 3);
      assert.equal(checks(h, 'failed_open'), 1);
      assert.equal(checks(h, 'ok'), 2);
      assert.equal(auth.asked.length, 4);
    },
  );
});

test('withRequestBody: the body goes to the server with its length; over maxRequestBytes the client gets 413 and the server is not asked; with allowPartialMessage the server gets the first bytes and the upstream the whole body', async () => {
  await withAuth(
    (port) => [
      `${extension(port, '    withRequestBody: { maxRequestBytes: 16 }\n', '', 'whole')}${routePolicy('whole-policy', 'whole-route', '  extAuth: { extensionRef: { name: whole } }')}---\n${sampleRoute('whole-route', '/anything/whole')}`,
      `${extension(port, '    withRequestBody: { maxRequestBytes: 16, allowPartialMessage: true }\n', '', 'partial')}${routePolicy('partial-policy', 'partial-route', '  extAuth: { extensionRef: { name: partial } }')}---\n${sampleRoute('partial-route', '/anything/partial')}`,
    ],
    async (h, auth) => {
      const small = await request({ port: h.port, method: 'POST', path: '/anything/whole', body: 'hello', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(small.status, 200);
      assert.equal(auth.asked[0]!.body.toString(), 'hello');
      assert.equal(auth.asked[0]!.headers['content-length'], '5');
      assert.equal(auth.asked[0]!.headers['x-envoy-auth-partial-body'], 'false');
      assert.equal(JSON.parse(small.body).data, 'hello');
      const big = await request({ port: h.port, method: 'POST', path: '/anything/whole', body: 'x'.repeat(100), headers: { 'x-ext-authz': 'allow' } });
      assert.equal(big.status, 413);
      assert.equal(big.body, 'Payload Too Large');
      assert.equal(auth.asked.length, 1, 'not asked');
      const part = await request({ port: h.port, method: 'POST', path: '/anything/partial', body: 'y'.repeat(100), headers: { 'x-ext-authz': 'allow' } });
      assert.equal(part.status, 200);
      assert.equal(auth.asked[1]!.body.toString(), 'y'.repeat(16));
      assert.equal(auth.asked[1]!.headers['x-envoy-auth-partial-body'], 'true');
      assert.equal(JSON.parse(part.body).data, 'y'.repeat(100));
      // A body within the limit is sent whole, marked so.
      const fits = await request({ port: h.port, method: 'POST', path: '/anything/partial', body: 'z'.repeat(16), headers: { 'x-ext-authz': 'allow' } });
      assert.equal(fits.status, 200);
      assert.equal(auth.asked[2]!.headers['x-envoy-auth-partial-body'], 'false');
      // A request without a body: no body, no partial-body header (a POST carries content-length: 0).
      await request({ port: h.port, method: 'POST', path: '/anything/partial', headers: { 'x-ext-authz': 'allow' } });
      assert.equal(auth.asked[3]!.headers['x-envoy-auth-partial-body'], undefined);
      assert.equal(auth.asked[3]!.headers['content-length'], '0');
    },
  );
});

test('order: ext auth runs after basic auth and before the JWT check (filter names ext_auth/… < jwt/…): a request without a token that the server denies gets the server\'s 403, one it allows gets 401 Jwt is missing', async () => {
  await withAuth(
    (port) => [
      `${extension(port)}${GATEWAY_POLICY}---\n${SAMPLE_JWT_EXTENSION}\n${routePolicy('jwt', 'httpbin', '  jwtAuth: { extensionRef: { name: selfminted-jwt } }')}`,
    ],
    async (h) => {
      const denied = await request({ port: h.port });
      assert.equal(denied.status, 403);
      assert.equal(denied.body, DENIED_BODY);
      const allowed = await request({ port: h.port, headers: { 'x-ext-authz': 'allow' } });
      assert.equal(allowed.status, 401);
      assert.equal(allowed.body, 'Jwt is missing');
    },
  );
});

test('percentageEnabled: 0 asks the server about no request (they pass unchecked); a grpcService, an extensionRef to a JWT extension and a missing GatewayExtension make the policy invalid (its routes 500) and say why', async () => {
  await withAuth(
    (port) => [
      `${extension(port, '    percentageEnabled: 0\n')}${GATEWAY_POLICY}`,
      `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { namespace: httpbin, name: grpc }
spec:
  extAuth:
    grpcService: { backendRef: { name: ext-authz, port: 4444 } }
${routePolicy('grpc-policy', 'grpc-route', '  extAuth: { extensionRef: { name: grpc } }')}---\n${sampleRoute('grpc-route', '/grpc')}`,
      `---\n${SAMPLE_JWT_EXTENSION}\n${routePolicy('wrong-policy', 'wrong-route', '  extAuth: { extensionRef: { name: selfminted-jwt } }')}---\n${sampleRoute('wrong-route', '/wrong')}`,
      `${routePolicy('missing-policy', 'missing-route', '  extAuth: { extensionRef: { name: nothere } }')}---\n${sampleRoute('missing-route', '/missing')}`,
    ],
    async (h, auth) => {
      assert.equal((await request({ port: h.port })).status, 200);
      assert.equal(auth.asked.length, 0);
      assert.equal(checks(h, 'skipped'), 1);
      for (const p of ['/grpc', '/wrong', '/missing']) {
        const r = await request({ port: h.port, path: p });
        assert.equal(r.status, 500, p);
        assert.equal(r.body, 'invalid route configuration detected and replaced with a direct response.');
      }
      const problems = h.gateway.snapshot.problems.map((p) => `${p.resource} ${p.path}: ${p.message}`).join('\n');
      assert.match(problems, /GatewayExtension\/httpbin\/grpc spec\.extAuth\.grpcService: gRPC authorization services are not supported/);
      assert.match(problems, /TrafficPolicy\/httpbin\/wrong-policy spec\.extAuth\.extensionRef: expected gatewayextension type ExtAuth/);
      assert.match(problems, /TrafficPolicy\/httpbin\/missing-policy spec\.extAuth\.extensionRef: extauth: httpbin\/nothere: gateway extension not found/);
    },
  );
});
