// A DirectResponse's bodyFormat outside the gateway (src/proxy/body-format.ts and
// validateDirectResponse): numbers written as Envoy's serializeDouble writes them, the bounds on
// a JSON template (which a YAML alias cannot get around), and what a body may hold that a header
// value may not.
import test from 'node:test';
import assert from 'node:assert/strict';
import { envoyNumber as envoyDouble } from '../../src/proxy/body-format.js';
import { validateDirectResponse } from '../../src/config/validate-misc.js';
import type { ConfigProblem } from '../../src/errors.js';
import { compileText } from '../../src/config/build.js';
import { loadManifestsFromText } from '../../src/config/load.js';
import { compileSnapshot } from '../../src/config/compile.js';

const drDoc = (spec: string) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: { name: d, namespace: default }
spec: ${spec}
`;
const errors = (yaml: string) => compileText(yaml, { generation: 1 }).problems.filter((p) => p.severity !== 'warning').map((p) => `${p.path}: ${p.message}`);

test('numbers as Envoy writes a double: the shortest of fixed and exponent notation (fixed on a tie), two exponent digits, -0 kept', () => {
  const cases: [number, string][] = [
    [0, '0'], [-0, '-0'], [1, '1'], [200, '200'], [1000, '1000'], [10000, '10000'], [100000, '1e+05'], [120000, '120000'], [1000000, '1e+06'],
    [1.5, '1.5'], [-2.25, '-2.25'], [0.1, '0.1'], [0.001, '0.001'], [0.0001, '1e-04'], [0.00001, '1e-05'], [0.00015, '0.00015'],
    [1e16, '1e+16'], [12345678901234567890, '12345678901234567000'], [1.5e+25, '1.5e+25'], [1e100, '1e+100'], [5e-324, '5e-324'], [123456789, '123456789'],
  ];
  for (const [x, want] of cases) assert.equal(envoyDouble(x), want, String(x));
});

test('a JSON template: 1,000 values and 16 levels are served, one more of either is refused', () => {
  const wide = (n: number) => `{ status: 200, bodyFormat: { json: { l: [${Array(n).fill('1').join(',')}] } } }`;
  // The object, its list, and the list's items.
  assert.deepEqual(errors(drDoc(wide(998))), []);
  assert.match(errors(drDoc(wide(999))).join('\n'), /^spec\.bodyFormat\.json: Too many: the template has more than 1000 values/);
  const deep = (n: number) => `{ status: 200, bodyFormat: { json: ${'{ a: '.repeat(n)}1${' }'.repeat(n)} } }`;
  assert.deepEqual(errors(drDoc(deep(16))), []);
  assert.match(errors(drDoc(deep(17))).join('\n'), /Too deep: the template nests more than 16 levels/);
});

test('a JSON template that YAML aliases expand to millions of values is refused without walking them (the walk used to, for seconds and gigabytes)', () => {
  // YAML aliases make one list object appear again and again; its items are read through a proxy
  // that counts every read, so the test sees how much of the template the walk touched.
  let reads = 0;
  const shared = new Proxy(Array(10_000).fill(1), { get: (t, k, r) => (typeof k === 'string' && /^[0-9]+$/.test(k) && reads++, Reflect.get(t, k, r)) });
  const { resources, problems } = loadManifestsFromText(drDoc('{ status: 200, bodyFormat: { json: { a: 1 } } }'), 'd.yaml');
  const raw = resources[0]!;
  ((raw.object['spec'] as Record<string, unknown>)['bodyFormat'] as Record<string, unknown>)['json'] = { a: shared, b: Array(999).fill(shared) };
  const found: ConfigProblem[] = [...problems];
  const model = validateDirectResponse(raw, found);
  assert.equal(model.valid, false);
  assert.match(found.map((p) => p.message).join('\n'), /Too many: the template has more than 1000 values/);
  assert.equal(reads, 0, 'a list past the limit is refused by its length, before any item is read');
  // Through the real loader too (YAML's own alias expansion is bounded by the loader).
  const yaml = drDoc(`
  status: 200
  bodyFormat:
    json:
      a: &a [${Array(100).fill('1').join(',')}]
      b: [${Array(999).fill('*a').join(',')}]`);
  const loaded = loadManifestsFromText(yaml, 'd.yaml');
  const snapshot = compileSnapshot(loaded.resources, { generation: 1, problems: loaded.problems }).snapshot;
  assert.match(snapshot.problems.map((p) => p.message).join('\n'), /Too many/);
  // A very wide object: refused before its keys are sorted.
  const keys = Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join(', ');
  assert.match(errors(drDoc(`{ status: 200, bodyFormat: { json: { ${keys} } } }`)).join('\n'), /Too many/);
});

test('%ENVIRONMENT(X)% with a line break is served in a body (Envoy checks nothing there), refused in a header value as before', () => {
  process.env['JWTGATE_TEST_MULTILINE'] = 'line1\nline2';
  assert.deepEqual(errors(drDoc(`{ status: 200, bodyFormat: { text: "%ENVIRONMENT(JWTGATE_TEST_MULTILINE)%" } }`)), []);
  assert.deepEqual(errors(drDoc(`{ status: 200, bodyFormat: { json: { v: "%ENVIRONMENT(JWTGATE_TEST_MULTILINE)%" } } }`)), []);
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: default }
spec:
  rules:
  - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-v, value: "%ENVIRONMENT(JWTGATE_TEST_MULTILINE)%" }] } }]
`;
  assert.match(errors(route).join('\n'), /control characters/);
});

test('contentType has no bound (the CRD sets none): a long one is warned about, not refused', () => {
  const problems = compileText(drDoc(`{ status: 200, bodyFormat: { contentType: "application/${'x'.repeat(300)}", text: "hi" } }`), { generation: 1 }).problems;
  assert.deepEqual(problems.filter((p) => p.severity !== 'warning').map((p) => p.message), []);
  assert.ok(problems.some((p) => p.path === 'spec.bodyFormat.contentType' && p.severity === 'warning'));
});
