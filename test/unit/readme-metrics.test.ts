// The README's /metrics table lists every series /metrics shows, each with every label value a
// scrape shows from the start: a user writing alerts from the README should find no series or
// value missing there (jwtgate_ext_authz_total and STREAM_IDLE_TIMEOUT were).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Metrics, METRICS } from '../../src/observability/metrics.js';
import { repoRoot } from '../helpers/paths.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const start = readme.indexOf('- `GET /metrics`: Prometheus text, these series:');
const table = readme.slice(start, readme.indexOf('\n\n  1. ', start));
const rows = new Map(
  table
    .split('\n')
    .map((l) => /^ {2}\| `(jwtgate_[a-z_]+)` \|(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]),
);

test('the README metrics table has a row for every series a scrape shows, and no other', () => {
  assert.ok(start > 0, 'the metrics table is found');
  const shown = new Set([...new Metrics().render().matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  // Added by the admin server beside the Metrics class's own.
  shown.add('jwtgate_config_generation');
  assert.ok(shown.size >= 10);
  // Series only there with remote key sets (README note 2).
  const perKeySet = ['jwtgate_jwks_keys', 'jwtgate_jwks_last_success_timestamp_seconds', 'jwtgate_jwks_provider_fetches_total', 'jwtgate_jwks_refresher_restarts_total'];
  assert.deepEqual([...shown].filter((n) => !rows.has(n)), []);
  assert.deepEqual([...rows.keys()].filter((n) => !shown.has(n) && !perKeySet.includes(n)), []);
});

test('each series row names every label value a scrape shows from the start', () => {
  for (const [name, spec] of Object.entries(METRICS)) {
    const row = rows.get(name) ?? '';
    // jwtgate_requests_total's row names its codes by a link to the Responses table, one row each.
    const listed = (v: string) => row.includes(`\`${v}\``) || (name === 'jwtgate_requests_total' && readme.includes(`\n| \`${v}\` |`));
    const missing = spec.seed.filter((v) => !listed(v));
    assert.deepEqual(missing, [], `${name}: label values not in its README row`);
  }
});
