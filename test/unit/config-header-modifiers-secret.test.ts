// TrafficPolicy headerModifiers `secretRef` (kgateway 2.3), compiled: kgateway's error text for an
// entry without a name, a response rule on date still resolved, Secret keys no plain object
// assignment keeps (`__proto__`), and Secret keys that are no header names.

import test from 'node:test';
import assert from 'node:assert/strict';
import { KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { compileText } from '../../src/config/build.js';
import type { CompiledRoute, Snapshot } from '../../src/config/snapshot.js';
import { selectRoute } from '../../src/routing/match.js';

const GW_TARGET = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' };
const policy = (headerModifiers: Doc): Doc => ({ apiVersion: KGW, kind: 'TrafficPolicy', metadata: md('pol'), spec: { targetRefs: [GW_TARGET], headerModifiers } });
const secret = (stringData: Doc, name = 's'): Doc => ({ apiVersion: 'v1', kind: 'Secret', metadata: md(name), stringData });
const build = (docs: readonly (Doc | string)[]): Snapshot => compileText(docs.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join('\n---\n'), { generation: 1 }, 'hm.yaml');
const errors = (s: Snapshot): string[] => s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
const routeAt = (s: Snapshot): CompiledRoute =>
  selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '127.0.0.1', scheme: 'http' })!.route;

test('an entry without a name fails as kgateway words it: "failed to resolve header value(s)", a key given or not', () => {
  for (const ref of [{ name: 'nowhere', key: 'k' }, { name: 'nowhere' }]) {
    const s = build([gateway(), route(), policy({ request: { set: [{ secretRef: ref }] } })]);
    assert.deepEqual(errors(s), ['TrafficPolicy/default/pol spec.headerModifiers.request.set[0].secretRef: request: failed to resolve header value(s): secret default/nowhere: Secret default/nowhere not found'], JSON.stringify(ref));
    assert.equal(routeAt(s).invalid, 'TrafficPolicy/default/pol is invalid: request: failed to resolve header value(s): secret default/nowhere: Secret default/nowhere not found');
  }
});

test('a response rule on date from a Secret is still resolved: a missing Secret fails the headerModifiers (500), a good one is warned about and has no effect', () => {
  const missing = build([gateway(), route(), policy({ response: { set: [{ name: 'date', secretRef: { name: 'nowhere' } }, { name: 'x-a', value: 'b' }] } })]);
  assert.match(errors(missing).join('\n'), /response: failed to resolve header 'date': secret default\/nowhere: Secret default\/nowhere not found/);
  assert.notEqual(routeAt(missing).invalid, undefined);
  const newline = build([gateway(), route(), secret({ date: 'x\n' }), policy({ response: { set: [{ secretRef: { name: 's' } }] } })]);
  assert.match(errors(newline).join('\n'), /holds a control character/);
  const ok = build([gateway(), route(), secret({ date: 'Mon', 'x-d': 'd' }), policy({ response: { set: [{ name: 'date', secretRef: { name: 's' } }, { secretRef: { name: 's' } }] } })]);
  assert.deepEqual(errors(ok), []);
  assert.equal(routeAt(ok).invalid, undefined);
  assert.deepEqual(routeAt(ok).headerMutation?.response, [{ op: 'set', name: 'x-d', value: 'd' }]);
  assert.equal(ok.problems.filter((p) => p.severity === 'warning' && /date/.test(p.message)).length, 2, 'one warning per rule on date');
});

test('Secret keys named __proto__ and constructor are read like any other (a plain assignment loses __proto__)', () => {
  const s = build([
    'apiVersion: v1\nkind: Secret\nmetadata: { name: s, namespace: default }\nstringData:\n  __proto__: p-val\n  constructor: c-val\n',
    gateway(),
    route(),
    policy({ request: { set: [{ name: 'x-p', secretRef: { name: 's', key: '__proto__' } }, { name: 'x-c', secretRef: { name: 's', key: 'constructor' } }], add: [{ secretRef: { name: 's' } }] } }),
  ]);
  assert.deepEqual(errors(s), []);
  assert.deepEqual(routeAt(s).headerMutation?.request, [
    { op: 'add', name: '__proto__', value: 'p-val' },
    { op: 'add', name: 'constructor', value: 'c-val' },
    { op: 'set', name: 'x-p', value: 'p-val' },
    { op: 'set', name: 'x-c', value: 'c-val' },
  ]);
});

test('every key of a Secret as a header: a key the API server would refuse (a space, a colon, non-ASCII) is no header name and fails the headerModifiers, not the wire', () => {
  for (const side of ['request', 'response'] as const) {
    const s = build([gateway(), route(), secret({ good: 'g', 'bad key': 'v' }), policy({ [side]: { set: [{ secretRef: { name: 's' } }] } })]);
    assert.deepEqual(errors(s), [`TrafficPolicy/default/pol spec.headerModifiers.${side}.set[0].secretRef: ${side}: failed to resolve header value(s): a key of Secret default/s is not a valid Secret data key, so no header name: the API server allows 1-253 letters, digits, -, _ and . in a key`]);
    assert.notEqual(routeAt(s).invalid, undefined);
    assert.equal(routeAt(s).headerMutation, undefined);
  }
});

test('an inline value with a name that is refused: only the name\'s error, not also "name is required"', () => {
  const s = build([gateway(), route(), policy({ request: { set: [{ name: 'bad name', value: 'v' }] } })]);
  assert.equal(errors(s).length, 1);
  assert.match(errors(s)[0]!, /set\[0\]\.name: Invalid value/);
});

test('a spec field named like an Object.prototype key (constructor, toString, hasOwnProperty) is an unknown field with its message, not silently accepted or reported without one', () => {
  for (const field of ['constructor', 'toString', 'hasOwnProperty']) {
    const snap = compileText(JSON.stringify({ apiVersion: 'gateway.kgateway.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'p', namespace: 'default' }, spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], [field]: { x: 1 } } }), { generation: 1 });
    assert.ok(snap.problems.some((p) => p.severity === 'error' && p.path === `spec.${field}` && /unknown field/.test(p.message)), `${field}: ${JSON.stringify(snap.problems)}`);
  }
});

test('an entry with a refused field is not resolved: a refused name, key or missing Secret name gives only its own error (not every key read, the name as key, or Secret "undefined")', () => {
  for (const [entry, only] of [
    [{ name: 'bad name', secretRef: { name: 's' } }, /set\[0\]\.name: Invalid value/],
    [{ name: 'x-a', secretRef: { name: 's', key: 'bad key' } }, /set\[0\]\.secretRef\.key: Invalid value/],
    [{ secretRef: { name: 's', key: 'bad key' } }, /set\[0\]\.secretRef\.key: Invalid value/],
    [{ name: 'x-a', secretRef: { key: 'good' } }, /set\[0\]\.secretRef\.name: Required value/],
  ] as const) {
    const s = build([gateway(), route(), secret({ good: 'g', 'bad key': 'v' }), policy({ request: { set: [entry] } })]);
    assert.equal(errors(s).length, 1, JSON.stringify(errors(s)));
    assert.match(errors(s)[0]!, only);
    assert.notEqual(routeAt(s).invalid, undefined, 'the policy is invalid: its routes answer 500');
  }
});

test('a Secret\'s error is reported at its own entry\'s index when an item before it is refused as a whole', () => {
  const s = build([gateway(), route(), policy({ request: { add: ['oops', { name: 'x-a', secretRef: { name: 'nowhere' } }] } })]);
  assert.deepEqual(errors(s), [
    'TrafficPolicy/default/pol spec.headerModifiers.request.add[0]: Invalid value: string "oops": must be an object',
    "TrafficPolicy/default/pol spec.headerModifiers.request.add[1].secretRef: request: failed to resolve header 'x-a': secret default/nowhere: Secret default/nowhere not found",
  ]);
});
