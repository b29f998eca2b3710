// Header rule formats, end to end: a value whose commands give '' at load skips its rule (Envoy
// omits empty values; a client's field survives a set), a response rule's %REQ% reads the request
// as it went upstream (Envoy's router edits the downstream map), and %ENVIRONMENT% of a name
// Object.prototype gives process.env (valueOf, __proto__) is an unset variable ("-").
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { filteredRoute, lastReceived, startHarness, type Harness } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';

let h: Harness;

before(async () => {
  process.env['JWTGATE_PROBE_EMPTY'] = '';
  h = await startHarness({
    manifests: [
      // P1: a value whose only operators are fixed at load and give '' (Envoy: '' -> rule skipped).
      filteredRoute(
        'empty-fixed',
        '/anything/empty-fixed',
        `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [
            { name: x-sni, value: "%REQUESTED_SERVER_NAME%" },
            { name: x-up, value: "%UPSTREAM_HOST%" },
            { name: x-env, value: "%ENVIRONMENT(JWTGATE_PROBE_EMPTY)%" } ] } }]`,
      ) +
        // P2: a response rule's %REQ% reads the request as it went upstream (Envoy mutates the one downstream map).
        filteredRoute(
          'resp-req',
          '/anything/resp-req',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: from-route }] } },
            { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-echo-a, value: "%REQ(x-a)%" }, { name: x-echo-id, value: "%REQ(x-request-id)%" }] } }]`,
        ) +
        // P3: ENVIRONMENT names that are Object.prototype members.
        filteredRoute(
          'env-proto',
          '/anything/env-proto',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-env, value: "%ENVIRONMENT(valueOf)%" }] } }]`,
        ) +
        filteredRoute(
          'env-proto2',
          '/anything/env-proto2',
          `[{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-env2, value: "%ENVIRONMENT(__proto__)%" }] } }]`,
        ),
    ],
  });
});

after(async () => {
  delete process.env['JWTGATE_PROBE_EMPTY'];
  await h?.close();
});

test('P1: a value that evaluates to "" at load skips the rule (a client field stays, no empty field added)', async () => {
  const res = await request({ port: h.port, path: '/anything/empty-fixed', headers: { host: 'www.example.com', 'x-sni': 'client', 'x-up': 'client', 'x-env': 'client' } });
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-sni'), ['client']);
  assert.deepEqual(lastReceived(h.echo, 'x-up'), ['client']);
  assert.deepEqual(lastReceived(h.echo, 'x-env'), ['client']);
});

test('P2: %REQ% in a response rule sees the request rules and the x-request-id sent upstream', async () => {
  const res = await request({ port: h.port, path: '/anything/resp-req', headers: { host: 'www.example.com', 'x-a': 'client' } });
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-a'), ['from-route']);
  const sentId = lastReceived(h.echo, 'x-request-id')[0];
  assert.equal(res.headers['x-echo-a'], 'from-route');
  assert.equal(res.headers['x-echo-id'], sentId);
});

test('P3: %ENVIRONMENT(valueOf)% (unset: Envoy writes "-") neither throws per request nor is silently dropped', async () => {
  const res = await request({ port: h.port, path: '/anything/env-proto', headers: { host: 'www.example.com' } });
  assert.equal(res.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-env'), ['-']);
  const res2 = await request({ port: h.port, path: '/anything/env-proto2', headers: { host: 'www.example.com' } });
  assert.equal(res2.status, 200);
  assert.deepEqual(lastReceived(h.echo, 'x-env2'), ['-']);
});

