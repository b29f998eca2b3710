// What `serve` logs about the configuration at start: every problem once, as a JSON line with its
// resource, field path and source, up to 200; past that one line that says how many there are
// and where to see them all (a broken folder of thousands of resources must not flood the log).
import test from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../helpers/harness.js';
import { createLogger } from '../../src/observability/log.js';

/** `n` HTTPRoutes, each with one invalid path type (one error each; the sample app adds one warning). */
function badRoutes(n: number): string {
  return Array.from(
    { length: n },
    (_, i) => `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: bad${i} }\nspec:\n  parentRefs: [{ name: http, namespace: kgateway-system }]\n  rules:\n  - matches: [{ path: { type: Bogus, value: /x } }]\n`,
  ).join('---\n');
}

async function startupLines(routes: number): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const h = await startHarness({ manifests: [badRoutes(routes)], gateway: { logger: createLogger('info', (l) => lines.push(l)) } });
  await h.close();
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('start-up: each configuration problem is logged once with resource, path and source, up to 200; then one line with the total that points to jwtgate check', async () => {
  const all = await startupLines(199);
  const problems = all.filter((l) => String(l.msg).startsWith('config: '));
  assert.equal(problems.length, 200);
  const seventh = problems.filter((l) => l.resource === 'HTTPRoute/default/bad7');
  assert.deepEqual(seventh, [
    {
      time: seventh[0]!.time,
      level: 'error',
      msg: 'config: Unsupported value: "Bogus": supported values: "Exact", "PathPrefix", "RegularExpression"',
      resource: 'HTTPRoute/default/bad7',
      path: 'spec.rules[0].matches[0].path.type',
      source: seventh[0]!.source,
    },
  ]);
  // The line of its `type:` in the file (seven lines per document, then its `---`).
  assert.match(String(seventh[0]!.source), /\/10-test\.yaml:63$/);
  assert.equal(all.filter((l) => String(l.msg).startsWith('more configuration problems')).length, 0, 'exactly 200: nothing left out');

  const more = await startupLines(200);
  assert.equal(more.filter((l) => String(l.msg).startsWith('config: ')).length, 200);
  const summary = more.filter((l) => String(l.msg).startsWith('more configuration problems'));
  assert.deepEqual(summary.map((l) => [l.level, l.msg, l.total]), [['warn', 'more configuration problems not logged; run `jwtgate check` for the full list', 201]]);
});
