// node --test bench/test/ (run by .ci/run): the report's "÷ upstream" column and ratios.
import test from 'node:test';
import assert from 'node:assert/strict';
import { markdown, perUpstream, ratio, sustained, targets } from '../lib/report.mjs';

const row = (o) => ({ peer: 'jwtgate', scenario: 'cache-hit', kind: 'closed', status: 'ok', rps: 20_000, non2xx: 0, unexpected: 0, errors: 0, latency: { p50: 1, p99: 2 }, cpu: { peer: 90, peerUsPerReq: 45, upstream: 48, load: 40, other: 1 }, ...o });

test('÷ upstream: peer CPU over upstream CPU in the same interval, proxied responses only', () => {
  assert.equal(perUpstream(row()), '1.88');
  assert.equal(perUpstream(row({ non2xx: 1000, cpu: { peer: 80, upstream: 0 } })), '–', '401 path: the upstream did nothing');
  assert.equal(perUpstream(row({ non2xx: 3 })), '–', 'some responses not proxied: the units differ');
  assert.equal(perUpstream(row({ unexpected: 1 })), '–');
  assert.equal(perUpstream(row({ cpu: { peer: null, upstream: 95 } })), '–', 'upstream-direct: no peer process');
  assert.equal(perUpstream(row({ cpu: { peer: 50, upstream: 0.4 } })), '–', 'upstream below 1% of a core: too small to divide by');
  assert.equal(perUpstream({ status: 'ok' }), '–', 'no CPU figures');
});

test('the throughput table has the column, in its place', () => {
  const report = {
    meta: { timestamp: 't', mode: 'full', cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 8, open: 8 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } },
    scenarios: [{ name: 'cache-hit' }],
    results: [row({ peer: 'nginx-proxy', rps: 34_000, cpu: { peer: 67, peerUsPerReq: 19.1, upstream: 65, load: 59, other: 2 } }), row()],
  };
  const lines = markdown(report).split('\n');
  const header = lines.find((l) => l.startsWith('| scenario | peer | req/s'));
  const cols = header.split('|').map((c) => c.trim());
  const at = cols.indexOf('÷ upstream');
  assert.equal(cols[at - 1], 'peer CPU µs/req');
  const cell = (peer) => lines.find((l) => l.startsWith(`| cache-hit | ${peer} |`)).split('|').map((c) => c.trim())[at];
  assert.equal(cell('nginx-proxy'), '1.03');
  assert.equal(cell('jwtgate'), '1.88');
  assert.equal(lines[lines.indexOf(header) + 1].split('|').length, header.split('|').length, 'separator row has as many columns');
});

test('ratios: two decimals, more where two would round a miss or a win to 1.00', () => {
  assert.equal(ratio(62_129, 62_188), '0.999×', 'a missed ≥ target never prints as 1.00×');
  assert.equal(ratio(2.593, 2.590), '1.001×');
  assert.equal(ratio(62_129, 62_133), '0.9999×');
  assert.equal(ratio(500, 500), '1.00×');
  assert.equal(ratio(19_634, 34_845), '0.56×');
  assert.equal(ratio(74_971, 67_309), '1.11×');
  assert.equal(ratio(1, 20), '0.050×');
  assert.equal(ratio(45_000, 300), '150×');
  assert.equal(ratio(0, 300), '–');
});

test('the fixed-rate p99 target is only judged between runs with nothing but expected answers', () => {
  const open = (peer, p99, o = {}) => row({ peer, scenario: 'fixed-rate-2000', kind: 'open', rate: 2000, latency: { p50: 0.5, p99 }, load: { achievedRate: 2000 }, ...o });
  const target = (rs) => targets(rs).find((t) => t.target.startsWith('fixed-rate'));
  assert.equal(target([open('jwtgate', 0.4), open('haproxy', 0.83)]).pass, true);
  const dirty = target([open('jwtgate', 0.4, { unexpected: 12_000, errors: 4000 }), open('haproxy', 0.83)]);
  assert.equal(dirty.pass, undefined, 'fast wrong answers are not a met target');
  assert.match(dirty.note, /not compared/);
  assert.equal(target([open('jwtgate', 0.4), open('haproxy', 0.83, { errors: 1 })]).pass, undefined);
});

test('a target whose load generator saturated is judged on peer CPU per request; a cache-miss run that hit jwtgate\'s cache gets no verdict', () => {
  const pair = (s, a = {}, b = {}) => [row({ scenario: s, ...a }), row({ peer: 'haproxy', scenario: s, rps: 19_000, ...b })];
  const t = (rs, s) => targets(rs).find((x) => x.target.startsWith(s));
  assert.equal(t(pair('missing-token', { rps: 76_000 }, { rps: 75_000 }), 'missing-token').pass, true);
  // Saturated: judged on the peers' CPU per request instead, and said so.
  const saturated = t(pair('missing-token', { rps: 76_000, load: { perProcessCpu: [101] }, cpu: { peerUsPerReq: 10.9 } }, { rps: 75_000, load: { perProcessCpu: [101] }, cpu: { peerUsPerReq: 10.5 } }), 'missing-token');
  assert.equal(saturated.pass, false, 'more req/s, but more CPU per request');
  assert.match(saturated.note, /load generator saturated: req\/s is its ceiling; judged on peer CPU per request, 10\.9 vs 10\.5 µs/);
  const cheaper = t(pair('missing-token', { rps: 74_000, load: { perProcessCpu: [101] }, cpu: { peerUsPerReq: 10.1 } }, { rps: 75_000, cpu: { peerUsPerReq: 10.5 } }), 'missing-token');
  assert.equal(cheaper.pass, true);
  const cached = t(pair('cache-miss-rs256', { rps: 25_000, cacheHitPct: 22.9 }), 'cache-miss-rs256');
  assert.equal(cached.pass, undefined);
  assert.match(cached.note, /22\.9% of jwtgate's answers came from its cache/);
  assert.equal(t(pair('cache-miss-rs256', { rps: 10_000, cacheHitPct: 0 }), 'cache-miss-rs256').pass, false);
});

test('writeReport: latest.json is a copy of the run\'s JSON, and latest.md links the dated JSON', async () => {
  const { mkdtempSync, readFileSync, existsSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { writeReport } = await import('../lib/report.mjs');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
  const report = () => ({
    meta: { timestamp: 't', mode: 'full', cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 8, open: 8 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } },
    scenarios: [{ name: 'cache-hit' }],
    results: [row()],
  });
  try {
    writeReport(report(), dir, 'S1', { latest: false });
    assert.equal(existsSync(path.join(dir, 'latest.json')), false);
    assert.match(readFileSync(path.join(dir, 'S1.md'), 'utf8'), /\[S1\.json\]\(S1\.json\)/);
    const files = writeReport(report(), dir, 'S2', { latest: true });
    assert.equal(readFileSync(path.join(dir, 'latest.json'), 'utf8'), readFileSync(files.json, 'utf8'));
    assert.match(readFileSync(path.join(dir, 'latest.md'), 'utf8'), /\[S2\.json\]\(S2\.json\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the stdout summary keeps its columns apart (17-character scenario names ran together)', async () => {
  const { summaryTable } = await import('../lib/report.mjs');
  const names = ['cache-hit', 'missing-token', 'invalid-signature', 'fixed-rate-2000'];
  const results = [
    row({ peer: 'haproxy', scenario: 'missing-token', rps: 72_273 }),
    row({ peer: 'haproxy', scenario: 'invalid-signature', rps: 33_609.4 }),
    row({ peer: 'jwtgate', scenario: 'invalid-signature', status: 'probe-failed' }),
    row({ peer: 'jwtgate', scenario: 'fixed-rate-2000', kind: 'open', latency: { p99: 1.13 } }),
  ];
  const out = summaryTable(results, names, [{ peer: 'jwtgate', scenario: 'missing-token', reason: 'x' }, { peer: 'fastify-jwt', reason: 'not installed' }]);
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 3, 'header, haproxy, jwtgate (a peer skipped before any scenario has no row)');
  const header = lines[0];
  assert.match(header, /missing-token +invalid-signature +p99@2000$/);
  assert.ok(!header.includes('missing-tokeninvalid-signature'));
  // Every column right-aligned on its header's end.
  const ends = [...header.matchAll(/\S+/g)].map((m) => m.index + m[0].length);
  for (const l of lines.slice(1)) for (const m of l.matchAll(/\S+(?: \S+)?/g)) if (m.index > 0) assert.ok(ends.includes(m.index + m[0].length), `${JSON.stringify(m[0])} in ${JSON.stringify(l)} ends on a column`);
  assert.match(lines[1], /^haproxy +72,273\/s +33,609\/s$/);
  assert.match(lines[2], /^jwtgate +skipped +probe-failed +1\.13 ms$/);
});

test('a target whose figures are disturbed (other > 20% of a core) or not clean gets no plain verdict, in the Markdown and in the JSON', async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { writeReport } = await import('../lib/report.mjs');
  const t = (rs, s) => targets(rs).find((x) => x.target.startsWith(s));
  const quiet = { peer: 90, peerUsPerReq: 45, upstream: 48, load: 40, other: 1 };
  const busy = { ...quiet, other: 35 };
  const results = [
    row({ peer: 'nginx-proxy', rps: 30_000 }),
    row({ rps: 31_000, cpu: busy }),
    row({ scenario: 'missing-token', rps: 60_000 }),
    row({ peer: 'haproxy', scenario: 'missing-token', rps: 50_000, cpu: busy }),
    row({ scenario: 'cache-miss-rs256', rps: 10_000, unexpected: 3 }),
    row({ peer: 'haproxy', scenario: 'cache-miss-rs256', rps: 9_000 }),
    row({ scenario: 'cache-miss-es256', rps: 10_000 }),
    row({ peer: 'haproxy', scenario: 'cache-miss-es256', rps: 9_000 }),
  ];
  const hit = t(results, 'cache-hit');
  assert.equal(hit.pass, undefined, "jwtgate's figure disturbed: no verdict");
  assert.match(hit.verdict, /⚠ disturbed: not judged/);
  const missing = t(results, 'missing-token');
  assert.equal(missing.pass, undefined, "HAProxy's figure disturbed: no verdict");
  assert.match(missing.verdict, /⚠ disturbed: not judged/);
  const rs = t(results, 'cache-miss-rs256');
  assert.equal(rs.pass, undefined, 'unexpected answers: no verdict');
  assert.match(rs.verdict, /not judged/);
  const es = t(results, 'cache-miss-es256');
  assert.equal(es.pass, true, 'quiet and clean: judged');
  assert.equal(es.verdict, 'yes');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
  try {
    const report = {
      meta: { timestamp: 't', mode: 'full', cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 8, open: 8 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } },
      scenarios: ['cache-hit', 'missing-token', 'cache-miss-rs256', 'cache-miss-es256'].map((name) => ({ name })),
      results,
    };
    const files = writeReport(report, dir, 'S', { latest: false });
    const md = readFileSync(files.md, 'utf8').split('\n');
    const cells = (s) => md.find((l) => l.startsWith(`| ${s}`)).split('|').map((c) => c.trim());
    assert.equal(cells('cache-hit ≥').at(-2), '⚠ disturbed: not judged');
    assert.equal(cells('missing-token ≥').at(-2), '⚠ disturbed: not judged');
    assert.equal(cells('cache-miss-es256 ≥').at(-2), 'yes');
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    const jt = (s) => json.targets.find((x) => x.target.startsWith(s));
    assert.equal(jt('cache-hit').verdict, '⚠ disturbed: not judged');
    assert.equal(jt('cache-hit').pass, null, 'not judged: pass is null in the JSON, not left out');
    assert.equal(jt('cache-miss-es256').pass, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixed rate: no plain p99 ratio nor p99 verdict where either side did not sustain the rate (below 98% of it)', () => {
  const open = (peer, p99, achievedRate, rate = 2000) => row({ peer, scenario: `fixed-rate-${rate}`, kind: 'open', rate, latency: { p50: 0.5, p90: 0.6, p99, p999: 2, max: 3 }, load: { achievedRate, sendLagP99Ms: 0.1 } });
  const target = (rs) => targets(rs).find((t) => t.target.startsWith('fixed-rate'));
  assert.equal(target([open('jwtgate', 0.4, 1999), open('haproxy', 0.83, 1960)]).pass, true, '98% of the rate is sustained');
  const behind = target([open('jwtgate', 0.4, 2000), open('haproxy', 900, 1700)]);
  assert.equal(behind.pass, undefined, "HAProxy's p99 grew with its queue: no verdict");
  assert.match(behind.note, /rate not sustained/);
  assert.equal(target([open('jwtgate', 900, 1500), open('haproxy', 0.83, 2000)]).pass, undefined);
  // Judged on the answers within the schedule when the run gives them: a few answers 45 ms late
  // bring achievedRate (which waits for them) under 98% though the rate was kept.
  const late = (peer, p99, achievedRate, onScheduleRate) => ({ ...open(peer, p99, achievedRate), load: { achievedRate, onScheduleRate, sendLagP99Ms: 0.1 } });
  assert.equal(sustained(late('jwtgate', 0.4, 1956, 1985)), true);
  assert.equal(sustained(late('jwtgate', 0.4, 1999, 1700)), false, 'a backlog at the end of the schedule');
  assert.equal(target([late('jwtgate', 0.4, 1956, 1985), open('haproxy', 0.83, 2000)]).pass, true);
  const report = {
    meta: { timestamp: 't', mode: 'full', cores: 2, cpuModel: 'x', memGiB: 1, os: 'linux', node: 'v20', git: { sha: 'abc' }, peers: [], skipped: [], load: { autocannon: '8', procs: 1, connections: 64 }, durations: { warmup: 2, closed: 8, open: 8 }, tokens: 20, order: 'interleaved', cpus: { description: 'shared' } },
    scenarios: [{ name: 'fixed-rate-10000' }],
    results: [open('nginx-proxy', 2, 10_000, 10_000), open('haproxy', 150, 9_990, 10_000), open('jwtgate', 350, 9_300, 10_000)],
  };
  const lines = markdown(report).split('\n');
  const cells = (peer) => lines.find((l) => l.startsWith(`| fixed-rate-10000 | ${peer} |`)).split('|').map((c) => c.trim());
  assert.deepEqual(cells('jwtgate').slice(-3, -1), ['— (rate not sustained)', '— (rate not sustained)']);
  assert.deepEqual(cells('haproxy').slice(-3, -1), ['75.00×', '1.00×'], 'both sustained: plain ratios');
  assert.deepEqual(cells('nginx-proxy').slice(-3, -1), ['1.00×', '0.013×']);
});

test('cache hit %: hits over hits + misses (over completed responses it read 100% and more: hits include requests cut when the load stops)', async () => {
  const { cacheHitPct } = await import('../lib/report.mjs');
  assert.equal(cacheHitPct(1000, 0), 100);
  assert.equal(cacheHitPct(229, 771), 22.9);
  assert.equal(cacheHitPct(1, 2999), 0.03);
  assert.equal(cacheHitPct(0, 0), undefined, 'no lookups (not jwtgate, or no metrics)');
  assert.equal(cacheHitPct(undefined, undefined), undefined);
});
