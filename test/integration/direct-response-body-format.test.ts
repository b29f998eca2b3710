// A DirectResponse's `bodyFormat` (newer kgateway) end to end: Envoy's direct_response
// `body_format`, formatted for each request from the request as routed (after the JWT check:
// its claim header), before the answer exists (%RESPONSE_CODE% 0, %RESP% no value). Text: a
// command without a value is `-` (no omit_empty_values), a present but empty header ''. JSON:
// keys sorted by bytes at every level, a value that is one command keeps its type, literals as
// written, compact, then a newline. Both go out as text/plain (the Envoy bug kgateway documents;
// contentType is warned about), and the route's response header rules still apply.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness, SAMPLE_TOKEN, SAMPLE_JWT_EXTENSION, directResponse, directResponseRef } from '../helpers/harness.js';
import { request } from '../helpers/http-client.js';
import { configDumpText } from '../../src/config/dump.js';

const ext = directResponseRef;

let h: Harness;

before(async () => {
  h = await startHarness({
    manifests: [
      directResponse('text', `{ status: 418, bodyFormat: { text: "team=%REQ(x-team)% path=%REQ(:path)% missing=%REQ(x-none)% empty=[%REQ(x-empty)%] resp=%RESP(server)% code=%RESPONSE_CODE% 100%%" } }`) +
        directResponse(
          'json',
          `{ status: 503, bodyFormat: { contentType: application/problem+json, json: { zeta: "%REQ(:method)%", alpha: { code: "%RESPONSE_CODE%", none: "%REQ(x-none)%", mixed: "id=%REQ(x-none)%" }, "10": [1.5, true, null, "%PROTOCOL%"], "9": "nine", Beta: 200 } } }`,
        ) +
        directResponse('id', `{ status: 200, bodyFormat: { text: "%REQ(x-request-id)%|%REQ(x-forwarded-for)%" } }`) +
        `---\n${SAMPLE_JWT_EXTENSION}\n` +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: formatted, namespace: httpbin }
spec:
  hostnames: [formatted.example.com]
  parentRefs: [{ name: http, namespace: kgateway-system }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /text } }]
    filters: [${ext('text')}, { type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-code, value: "%RESPONSE_CODE%" }] } }]
  - matches: [{ path: { type: PathPrefix, value: /json } }]
    filters: [${ext('json')}]
  - matches: [{ path: { type: PathPrefix, value: /id } }]
    filters: [${ext('id')}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: formatted-jwt, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: formatted }]
  jwtAuth:
    extensionRef: { name: selfminted-jwt }
`,
    ],
  });
});

after(async () => {
  await h?.close();
});

const auth = { host: 'formatted.example.com', authorization: `Bearer ${SAMPLE_TOKEN}` };

test('text: formatted per request after the JWT check (its claim header); no value is -, an empty header \'\'; %RESPONSE_CODE% is 0 in the body and the status in a header rule; text/plain', async () => {
  const n = h.echo.received.length;
  const res = await request({ port: h.port, path: '/text/a?q=1', headers: { ...auth, 'x-empty': '' } });
  assert.equal(res.status, 418);
  assert.equal(res.body, 'team=dev path=/text/a?q=1 missing=- empty=[] resp=- code=0 100%');
  assert.equal(res.headers['content-type'], 'text/plain');
  assert.equal(res.headers['x-code'], '418');
  // check says why the body's %RESPONSE_CODE% is 0, on both forms.
  const warnings = h.gateway.snapshot.problems.filter((p) => p.severity === 'warning' && p.message.startsWith('%RESPONSE_CODE% in a bodyFormat is always 0'));
  assert.deepEqual(warnings.map((p) => `${p.resource} ${p.path}`).sort(), ['DirectResponse/httpbin/json spec.bodyFormat.json', 'DirectResponse/httpbin/text spec.bodyFormat.text']);
  assert.match(warnings.find((p) => p.resource.endsWith('/text'))!.message, /write the status, 418, as text/);
  assert.equal(h.echo.received.length, n, 'answered by the gateway');
  // Still behind the JWT check.
  const denied = await request({ port: h.port, path: '/text/a', headers: { host: 'formatted.example.com' } });
  assert.equal(denied.status, 401);
});

test('json: keys sorted by bytes at every level, one-command values typed (a number, null), mixed ones strings with -, literals as written, a newline; still text/plain', async () => {
  const res = await request({ port: h.port, path: '/json', method: 'DELETE', headers: auth });
  assert.equal(res.status, 503);
  assert.equal(res.body, '{"10":[1.5,true,null,"HTTP/1.1"],"9":"nine","Beta":200,"alpha":{"code":0,"mixed":"id=-","none":null},"zeta":"DELETE"}\n');
  assert.equal(res.headers['content-type'], 'text/plain');
  const warning = h.gateway.snapshot.problems.find((p) => p.path === 'spec.bodyFormat.contentType');
  assert.match(warning?.message ?? '', /contentType has no effect: Envoy sends every formatted body as text\/plain/);
});

test('the body reads the request as Envoy\'s router has it: the connection manager\'s x-request-id and x-forwarded-for; /config_dump says which format', async () => {
  const res = await request({ port: h.port, path: '/id', headers: { ...auth, 'x-request-id': 'client-id', 'x-forwarded-for': '9.9.9.9' } });
  assert.equal(res.status, 200);
  const [id, xff] = res.body.split('|');
  assert.match(id!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a new x-request-id, not the client\'s');
  // The client's list and the element Envoy appends (for a loopback peer, the node's address).
  assert.match(xff!, /^9\.9\.9\.9,[0-9a-f.:]+$/);
  const dump = configDumpText(h.gateway.snapshot);
  assert.match(dump, /"bodyFormat": "json"/);
  assert.match(dump, /"bodyFormat": "text"/);
  assert.equal(h.gateway.snapshot.problems.filter((p) => p.severity === 'error').length, 0);
});
