#!/usr/bin/env node
// Every full run in bench/results/ as one row, judged by the harness's own rules (lib/report.mjs),
// and what they add up to:
//   node bench/tools/runs-table.mjs [DIR] [--split-us N]
// DIR defaults to bench/results. Only default full runs count (`npm run bench`): quick, smoke and
// custom runs (any BENCH_* setting that changes what is measured) are left out, and so are
// latest.json (a copy of one of the others) and the micro-benchmarks.
// --split-us N (default 42): the summary also counts the 10,000 req/s runs jwtgate kept, split by
// its CPU per cache-hit request in the same run (closed loop, no queueing: a gauge of how fast the
// machine was), at most N µs and above.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { find, fmt as num, perUpstream, sustained, keptRate, targets } from '../lib/report.mjs';

const TARGETS = [
  ['cache-hit', 'cache-hit ≥ 1.0× nginx'],
  ['cache-miss-rs256', 'cache-miss-rs256 ≥ HAProxy'],
  ['cache-miss-es256', 'cache-miss-es256 ≥ HAProxy'],
  ['missing-token', 'missing-token ≥ HAProxy'],
  ['fixed-rate-2000', 'p99 at 2,000 req/s ≤ HAProxy'],
];
const PROXIED = ['cache-hit', 'cache-miss-rs256', 'cache-miss-es256'];

/** The full runs among `files` ({ name, text }), oldest first; unreadable files are skipped. */
export function fullRuns(files) {
  const runs = [];
  for (const { name, text } of files) {
    if (!/^\d{4}-\d\d-\d\dT.*\.json$/.test(name)) continue;
    let report;
    try {
      report = JSON.parse(text);
    } catch {
      continue;
    }
    const meta = report?.meta;
    if (meta?.mode !== 'full' || meta.custom || !Array.isArray(report.results)) continue;
    runs.push({ name, report });
  }
  return runs.sort((a, b) => (a.report.meta.timestamp < b.report.meta.timestamp ? -1 : 1));
}

/** One run's figures: the five targets' verdicts and what the tables below quote. */
export function runFigures(report) {
  const { results, meta } = report;
  const jwtgate = results.find((r) => r.peer.startsWith('jwtgate'))?.peer ?? 'jwtgate';
  const verdicts = targets(results, jwtgate);
  const verdict = (prefix) => verdicts.find((t) => t.target.startsWith(prefix));
  const fixed = (peer) => find(results, peer, 'fixed-rate-10000');
  const jHit = find(results, jwtgate, 'cache-hit');
  const ratioOf = (a, b) => (a && b ? a / b : undefined);
  const upstreamRatios = (peer) => PROXIED.map((s) => perUpstream(find(results, peer, s) ?? {}));
  return {
    timestamp: meta.timestamp,
    sha: meta.git?.sha?.slice(0, 7) ?? '–',
    nginxRps: find(results, 'nginx-proxy', 'cache-hit')?.rps,
    jwtgateHitUs: jHit?.cpu?.peerUsPerReq,
    ratios: {
      'cache-hit': ratioOf(jHit?.rps, find(results, 'nginx-proxy', 'cache-hit')?.rps),
      'cache-miss-rs256': ratioOf(find(results, jwtgate, 'cache-miss-rs256')?.rps, find(results, 'haproxy', 'cache-miss-rs256')?.rps),
      'cache-miss-es256': ratioOf(find(results, jwtgate, 'cache-miss-es256')?.rps, find(results, 'haproxy', 'cache-miss-es256')?.rps),
    },
    missingTokenUs: [find(results, jwtgate, 'missing-token')?.cpu?.peerUsPerReq, find(results, 'haproxy', 'missing-token')?.cpu?.peerUsPerReq],
    p99At2000: [find(results, jwtgate, 'fixed-rate-2000')?.latency?.p99, find(results, 'haproxy', 'fixed-rate-2000')?.latency?.p99],
    // [req/s answered on schedule, kept the rate?] at 10,000 req/s, or undefined when not measured.
    at10000: [fixed(jwtgate), fixed('haproxy')].map((r) => (r ? { rps: keptRate(r), kept: sustained(r) } : undefined)),
    perUpstream: { jwtgate: upstreamRatios(jwtgate), haproxy: upstreamRatios('haproxy') },
    // true / false, or undefined when the run cannot judge it (the report says why).
    met: Object.fromEntries(TARGETS.map(([key]) => [key, verdict(key === 'fixed-rate-2000' ? 'fixed-rate 2,000' : key)?.pass])),
  };
}

const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : '–');
const keptCell = (x) => (x ? `${num(x.rps)}${x.kept ? '' : ' (not kept)'}` : '–');
const pair = ([a, b], d) => `${num(a, d)} / ${num(b, d)}`;
const ratioCell = (r) => (r === undefined ? '–' : `${r.toFixed(2)}×`);

/** The Markdown table, one row per run. */
export function table(figures) {
  const lines = [
    '| run (UTC) | git | nginx cache-hit req/s | jwtgate cache-hit µs/req | cache-hit × nginx | rs256 × HAProxy | es256 × HAProxy | 401 CPU µs jwtgate / HAProxy | p99 ms at 2,000 jwtgate / HAProxy | 10,000 req/s on schedule jwtgate / HAProxy | ÷ upstream jwtgate (hit / rs256 / es256) | ÷ upstream HAProxy | targets met |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const f of figures) {
    const met = TARGETS.filter(([key]) => f.met[key] === true).map(([key]) => key);
    lines.push(
      `| ${f.timestamp.slice(0, 16).replace('T', ' ')} | ${f.sha} | ${num(f.nginxRps)} | ${num(f.jwtgateHitUs, 1)} | ${ratioCell(f.ratios['cache-hit'])} | ${ratioCell(f.ratios['cache-miss-rs256'])} | ${ratioCell(f.ratios['cache-miss-es256'])} | ${pair(f.missingTokenUs, 1)} | ${pair(f.p99At2000, 2)} | ${keptCell(f.at10000[0])} / ${keptCell(f.at10000[1])} | ${f.perUpstream.jwtgate.join(' / ')} | ${f.perUpstream.haproxy.join(' / ')} | ${met.length ? met.join(', ') : 'none'} |`,
    );
  }
  return lines.join('\n');
}

const range = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? [Math.min(...v), Math.max(...v)] : undefined;
};
const rangeText = (r, d) => (r ? (r[0] === r[1] ? num(r[0], d) : `${num(r[0], d)}–${num(r[1], d)}`) : '–');

/** What the runs add up to, as lines of text. */
export function summary(figures, { splitUs = 42 } = {}) {
  const out = [`${figures.length} full run${figures.length === 1 ? '' : 's'}${figures.length ? `, ${figures[0].timestamp.slice(0, 16)}Z to ${figures.at(-1).timestamp.slice(0, 16)}Z` : ''}.`];
  for (const [key, label] of TARGETS) {
    const judged = figures.filter((f) => f.met[key] !== undefined);
    const met = judged.filter((f) => f.met[key]).length;
    out.push(`${label}: met in ${met} of the ${judged.length} runs that judge it${judged.length < figures.length ? ` (${figures.length - judged.length} could not)` : ''}.`);
  }
  for (const [i, peer] of [[0, 'jwtgate'], [1, 'HAProxy']]) {
    const measured = figures.filter((f) => f.at10000[i]);
    out.push(`10,000 req/s: ${peer} kept the rate in ${measured.filter((f) => f.at10000[i].kept).length} of ${measured.length} runs.`);
  }
  const gauged = figures.filter((f) => f.at10000[0] && typeof f.jwtgateHitUs === 'number');
  const low = gauged.filter((f) => f.jwtgateHitUs <= splitUs);
  const high = gauged.filter((f) => f.jwtgateHitUs > splitUs);
  out.push(
    `10,000 req/s by the machine's speed (jwtgate's CPU per cache-hit request in the same run): kept in ${low.filter((f) => f.at10000[0].kept).length} of ${low.length} runs at most ${splitUs} µs, in ${high.filter((f) => f.at10000[0].kept).length} of ${high.length} above.`,
  );
  for (const peer of ['jwtgate', 'haproxy']) {
    const parts = PROXIED.map((s, i) => `${s} ${rangeText(range(figures.map((f) => Number(f.perUpstream[peer][i]))), 2)}`);
    out.push(`÷ upstream, ${peer === 'haproxy' ? 'HAProxy' : peer}: ${parts.join('; ')}.`);
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  let dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
  let splitUs = 42;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--split-us') {
      splitUs = Number(args[++i]);
      if (!(splitUs > 0)) {
        console.error(`--split-us takes a positive number of microseconds, not ${JSON.stringify(args[i])}`);
        process.exit(2);
      }
    } else if (args[i].startsWith('-')) {
      console.error(`unknown option ${args[i]}\nusage: node bench/tools/runs-table.mjs [DIR] [--split-us N]`);
      process.exit(2);
    } else dir = args[i];
  }
  let names;
  try {
    names = readdirSync(dir);
  } catch (err) {
    console.error(`cannot read ${dir}: ${err.message}`);
    process.exit(2);
  }
  const runs = fullRuns(names.map((name) => ({ name, text: name.endsWith('.json') ? readFileSync(path.join(dir, name), 'utf8') : '' })));
  if (runs.length === 0) {
    console.error(`no full runs in ${dir} (bench/results/<timestamp>.json written by \`npm run bench\`)`);
    process.exit(1);
  }
  const figures = runs.map((r) => runFigures(r.report));
  process.stdout.write(`${table(figures)}\n\n${summary(figures, { splitUs }).map((l) => `- ${l}`).join('\n')}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
