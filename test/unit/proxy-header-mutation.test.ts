// Header rules as operations on the flat header lists the proxy sends (src/proxy/header-mutation.ts)
// and header values as Envoy's substitution formatter reads them (src/config/validate-header-filter.ts).
import test from 'node:test';
import assert from 'node:assert/strict';
import { applyHeaderOps, policyOps, routeLevelOps, type HeaderFilterSpec } from '../../src/proxy/header-mutation.js';
import { headerValue } from '../../src/config/validate-header-filter.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { ParseCtx } from '../../src/config/schema.js';
import type { ConfigProblem } from '../../src/errors.js';
import { compileText } from '../../src/config/build.js';

const spec: HeaderFilterSpec = {
  set: [{ name: 'X-A', value: 'set' }],
  add: [{ name: 'x-a', value: 'added' }],
  remove: ['x-a'],
};
const id = (v: string): string => v;
const REQ = { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '10.0.0.1', scheme: 'http' } as GatewayRequest;

test('a route\'s own rules run removals, then sets, then adds (Envoy HeaderParser); a policy\'s adds, then sets, then removals (kgateway ConvertMutations)', () => {
  assert.deepEqual(routeLevelOps(spec, id).map((o) => `${o.op} ${o.name}`), ['remove x-a', 'set x-a', 'add x-a']);
  assert.deepEqual(policyOps(spec, id).map((o) => `${o.op} ${o.name}`), ['add x-a', 'set x-a', 'remove x-a']);
  const route = ['x-a', '1', 'x-b', '2', 'x-a', '3'];
  applyHeaderOps(route, routeLevelOps(spec, id), false, REQ, 0);
  assert.deepEqual(route, ['x-b', '2', 'x-a', 'set', 'x-a', 'added']);
  const policy = ['x-a', '1', 'x-b', '2'];
  applyHeaderOps(policy, policyOps(spec, id), false, REQ, 0);
  assert.deepEqual(policy, ['x-b', '2']);
});

test('add joins to the first field of an Envoy inline header (request and response lists differ), and adds a line for any other; set collapses repeats into one field at the end', () => {
  const req = ['user-agent', 'curl', 'x-forwarded-for', '', 'location', '/a', 'x-x', '1'];
  applyHeaderOps(
    req,
    [
      { op: 'add', name: 'user-agent', value: 'gw' },
      { op: 'add', name: 'x-forwarded-for', value: '10.0.0.1' },
      { op: 'add', name: 'location', value: '/b' },
      { op: 'add', name: 'x-x', value: '2' },
      { op: 'add', name: 'via', value: 'new' },
    ],
    false,
    REQ,
    0,
  );
  assert.deepEqual(req, ['user-agent', 'curl,gw', 'x-forwarded-for', '10.0.0.1', 'location', '/a', 'x-x', '1', 'location', '/b', 'x-x', '2', 'via', 'new']);
  const res = ['location', '/a', 'user-agent', 'u', 'set-cookie', 'a=1'];
  applyHeaderOps(res, [{ op: 'add', name: 'location', value: '/b' }, { op: 'add', name: 'user-agent', value: 'v' }, { op: 'add', name: 'set-cookie', value: 'b=2' }], true, REQ, 0);
  assert.deepEqual(res, ['location', '/a,/b', 'user-agent', 'u', 'set-cookie', 'a=1', 'user-agent', 'v', 'set-cookie', 'b=2']);
  const rep = ['x-r', '1', 'x-o', 'o', 'x-r', '2'];
  applyHeaderOps(rep, [{ op: 'set', name: 'x-r', value: '3' }], false, REQ, 0);
  assert.deepEqual(rep, ['x-o', 'o', 'x-r', '3']);
});

test('values as Envoy\'s formatter reads them: %% is %, a command operator jwtgate does not evaluate and a % that starts none are refused with what to write', () => {
  const problems: ConfigProblem[] = [];
  const cx = ParseCtx.for({ kind: 'HTTPRoute', namespace: 'default', name: 'r', object: {}, annotations: {}, labels: {}, source: { file: 'f', line: 1 } } as never, problems);
  const literalHeaderValue = headerValue('request');
  assert.equal(literalHeaderValue('plain', 'v', cx), 'plain');
  assert.equal(literalHeaderValue('100%% a%%%%b', 'v', cx), '100% a%%b');
  assert.equal(problems.length, 0);
  for (const [v, msg] of [
    ['%DYNAMIC_METADATA(a:b)%', /%DYNAMIC_METADATA\(…\)% is an Envoy command operator jwtgate does not evaluate \(it evaluates %REQ\(name\)%/],
    // Not one of Envoy's operator names: not quoted (it may be part of a credential).
    ['ab%SECRETXYZ%', /^Invalid value: the command operator at position 2 is not an Envoy command operator \(Envoy: "Not supported field in StreamInfo"\)/],
    ['a %START_TIME(%s):10% b', /%START_TIME\(…\)% does not allow a length/],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', /client's port is not known here .*use %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%/],
    ['50%', /a % at position 2 starts no Envoy command operator/],
    ['%%%', /position 2/],
    ['a\nb', /control characters/],
  ] as const) {
    const count: number = problems.length;
    assert.equal(literalHeaderValue(v, 'v', cx), undefined, v);
    assert.equal(problems.length, count + 1, v);
    assert.match(problems.at(-1)!.message, msg, v);
  }
});

test('review findings: kgateway\'s value pattern does not backtrack on a long value that fails it; refused values are not quoted; a date response rule is dropped with a warning; expect is allowed on responses; header names that are Object.prototype keys are plain names', { timeout: 20_000 }, () => {
  const docs = (hm: unknown): string =>
    JSON.stringify({ apiVersion: 'gateway.kgateway.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 'default' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], headerModifiers: hm } });
  // 60 characters that fail the pattern at the very end (a double space, then a non-ASCII letter):
  // with the pattern as the CRD writes it, a backtracking engine takes hours here.
  const secret = `Basic  ${'c3VwZXJzZWNyZXQ'.repeat(3)}${'x'.repeat(8)}é`;
  const snapshot = compileText(docs({ request: { set: [{ name: 'authorization', value: secret }] } }), { generation: 1 });
  const p = snapshot.problems.find((x) => x.path === 'spec.headerModifiers.request.set[0].value');
  assert.match(p?.message ?? '', /^Invalid value \(not shown\): must be printable ASCII/);
  assert.ok(!JSON.stringify(snapshot.problems).includes('c3VwZXJzZWNyZXQ'));
  const ok = compileText(docs({ response: { set: [{ name: 'Date', value: 'x' }, { name: 'expect', value: 'y' }, { name: 'constructor', value: 'z' }], remove: ['__proto__'] } }), { generation: 1 });
  assert.deepEqual(ok.problems.filter((x) => x.severity === 'error').map((x) => x.message), []);
  assert.match(ok.problems.find((x) => x.path === 'spec.headerModifiers.response.set[0].name')?.message ?? '', /a headerModifiers.response rule on date has no effect/);
});

test('early rules as kgateway merges ListenerPolicies: an empty modifier sets nothing (a newer one wins), a policy the API server refuses contributes nothing, a target with sectionName (ref or selector) fails the Gateway closed', () => {
  const gw = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default', labels: { app: 'x' } }, spec: { gatewayClassName: 'k', listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] } };
  const lp = (name: string, created: string, spec: Record<string, unknown>) => ({
    apiVersion: 'gateway.kgateway.dev/v1alpha1',
    kind: 'ListenerPolicy',
    metadata: { name, namespace: 'default', creationTimestamp: created },
    spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], ...spec },
  });
  const early = (m: unknown) => ({ default: { httpSettings: { earlyRequestHeaderModifier: m } } });
  const ops = (...docs: unknown[]) => {
    const snap = compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 });
    const l = snap.ports.get(8080)?.listeners[0];
    return { ops: l?.earlyHeaderOps?.map((o) => `${o.op} ${o.name}`), invalid: l?.invalid, errors: snap.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}`) };
  };
  const newer = lp('newer', '2024-02-01T00:00:00Z', early({ remove: ['x-user-id'] }));
  assert.deepEqual(ops(gw, lp('older', '2024-01-01T00:00:00Z', early({})), newer).ops, ['remove x-user-id']);
  assert.deepEqual(ops(gw, lp('older', '2024-01-01T00:00:00Z', early({ remove: [] })), newer).ops, ['remove x-user-id']);
  // The older policy wins when it sets rules.
  assert.deepEqual(ops(gw, lp('older', '2024-01-01T00:00:00Z', early({ set: [{ name: 'x-env', value: 'prod' }] })), newer).ops, ['set x-env']);
  // The older one is refused by the API server (perPort items must be objects): the newer one applies.
  const refused = ops(gw, lp('older', '2024-01-01T00:00:00Z', { ...early({ set: [{ name: 'x-env', value: 'prod' }] }), perPort: ['junk'] }), newer);
  assert.deepEqual(refused.ops, ['remove x-user-id']);
  assert.deepEqual(refused.errors, ['ListenerPolicy/default/older spec.perPort[0]']);
  const bySelector = ops(gw, { ...lp('sel', '2024-01-01T00:00:00Z', early({ remove: ['x-user-id'] })), spec: { targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { app: 'x' }, sectionName: 'http' }], ...early({ remove: ['x-user-id'] }) } });
  assert.match(bySelector.invalid ?? '', /earlyRequestHeaderModifier with a target sectionName/);
  const byRef = ops(gw, { ...lp('ref', '2024-01-01T00:00:00Z', {}), spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', sectionName: 'http' }], ...early({ remove: ['x-user-id'] }) } });
  assert.match(byRef.invalid ?? '', /earlyRequestHeaderModifier with a target sectionName/);
});
