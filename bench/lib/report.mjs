// Results: <stamp>.json (everything), <stamp>.md (the tables users quote, with each figure's ratio
// to nginx-proxy-only and to HAProxy from the same run, and the issue #3 targets) and <stamp>.svg
// (latency-by-percentile plot of the first fixed-rate run), plus latest.md / latest.svg / latest.json copies.
import { writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { percentilePlot } from './svg.mjs';

/** A figure as the reports print it: en-US grouping, `d` decimals, '–' when missing. */
export const fmt = (n, d = 0) => (n === undefined || n === null || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
export const ratio = (a, b) => {
  if (!a || !b) return '–';
  const r = a / b;
  // Near 1 but not 1, two decimals would print "1.00×" beside NOT MET: as many more as it takes.
  let digits = 2;
  while (r !== 1 && digits < 6 && r.toFixed(digits) === (1).toFixed(digits)) digits++;
  return `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r >= 0.1 ? r.toFixed(digits) : r.toPrecision(2)}×`;
};

/**
 * The peer's CPU over the upstream's in the same interval ("÷ upstream"): its cost per request in
 * units of the upstream's. Only where every response was proxied (the upstream did one request's
 * work per response) and both were measured; '–' otherwise.
 */
export function perUpstream(r) {
  const { peer, upstream } = r.cpu ?? {};
  if (!(peer > 0) || !(upstream >= 1) || r.non2xx > 0 || r.unexpected > 0) return '–';
  return (peer / upstream).toFixed(2);
}

/**
 * % of jwtgate's result-cache lookups that hit (two decimals), from its /metrics deltas; undefined
 * with no lookups. Over lookups, not over completed responses: lookups also count requests cut
 * when the load generator stops, so hits / completed can exceed 100%.
 */
export function cacheHitPct(hits, misses) {
  const total = (hits ?? 0) + (misses ?? 0);
  return total > 0 ? Math.round((10000 * (hits ?? 0)) / total) / 100 : undefined;
}

export function find(results, peer, scenario) {
  return results.find((r) => r.peer === peer && r.scenario === scenario && r.status === 'ok');
}

/** nginx-proxy-only reference: nginx's cache-hit run (the same request, proxied without JWT). */
function nginxRef(results) {
  return find(results, 'nginx-proxy', 'cache-hit');
}

// A row measured while other processes took more than 20% of a core is marked: its figures are
// disturbed (see Notes) and should not be quoted.
const DISTURBED = 20;
const disturbed = (r) => r?.cpu?.other > DISTURBED;
const mark = (r) => (disturbed(r) ? ' ⚠' : '');

/** A result with only the expected answers: no other status, no errors or given-up requests. */
const cleanRun = (r) => r.status === 'ok' && (r.unexpected ?? 0) === 0 && (r.errors ?? 0) === 0;

/**
 * A fixed-rate run below this share of its rate did not sustain it (run.mjs notes it): its queue
 * grew through the run, so its p99 depends on how long the run was, not on the peer alone.
 */
export const SUSTAINED = 0.98;
/** The rate a fixed-rate run is judged on: answers within the schedule (older results: all answers over the time they took). */
export const keptRate = (r) => r.load?.onScheduleRate ?? r.load?.achievedRate ?? 0;
export const sustained = (r) => r.kind !== 'open' || !(r.rate > 0) || keptRate(r) >= r.rate * SUSTAINED;
const NOT_SUSTAINED = '— (rate not sustained)';

/**
 * Each row: target, jwtgate and reference figures, `pass` (true / false, or undefined when the run
 * cannot judge it), `verdict` (what the report prints in the "met" column: "yes", "no", or why it
 * is not judged) and a note (the ratio, and what qualifies it).
 */
export function targets(results, jwtgateName) {
  jwtgateName ??= results.find((r) => r.peer.startsWith('jwtgate'))?.peer ?? 'jwtgate';
  const j = (s) => find(results, jwtgateName, s);
  const h = (s) => find(results, 'haproxy', s);
  const n = nginxRef(results);
  const rows = [];
  // A figure measured on a busy machine (flagged ⚠ in the tables) or with unexpected answers or
  // errors gives no verdict, whichever side it is on: the row says why instead.
  const add = (target, a, b, mine, ref, pass, note = '') => {
    // Not judged for a reason the note gives (a rate not sustained, cache hits in a miss run, CPU
    // not measurable), or for want of a figure ('–').
    let verdict = pass === undefined ? (a && b ? 'not judged: see the note' : '–') : pass ? 'yes' : 'no';
    if (a && b) {
      if (disturbed(a) || disturbed(b)) {
        pass = undefined;
        verdict = '⚠ disturbed: not judged';
      } else if (!cleanRun(a) || !cleanRun(b)) {
        pass = undefined;
        verdict = 'not judged: unexpected answers or errors';
      }
    }
    rows.push({ target, jwtgate: mine, reference: ref, pass, verdict, note });
  };
  const jh = j('cache-hit');
  add('cache-hit ≥ 1.0× nginx-proxy-only', jh, n, jh && `${fmt(jh.rps)} req/s`, n && `${fmt(n.rps)} req/s (nginx)`, jh && n ? jh.rps >= n.rps : undefined, jh && n ? ratio(jh.rps, n.rps) : '');
  for (const s of ['cache-miss-rs256', 'cache-miss-es256', 'missing-token']) {
    const a = j(s);
    const b = h(s);
    // When the load generator was the limit for either, both figures are its ceiling more than
    // the peers': say so, and give the peers' CPU per request, which still compares them.
    const loadBound = [a, b].some((r) => r?.load?.perProcessCpu?.some((p) => p > 90));
    // Hits in jwtgate's cache during a cache-miss run: not a cache-miss figure.
    const cached = s.startsWith('cache-miss') && (a?.cacheHitPct ?? 0) > 0.1;
    // A saturated load generator measures itself, not the peers: the verdict is then on the
    // peers' CPU per request (what the same load would cost each), and says so.
    const cpuA = a?.cpu?.peerUsPerReq;
    const cpuB = b?.cpu?.peerUsPerReq;
    const byCpu = loadBound && cpuA > 0 && cpuB > 0;
    const note = a && b ? `${ratio(a.rps, b.rps)}${loadBound ? ` (load generator saturated: req/s is its ceiling; ${byCpu ? `judged on peer CPU per request, ${fmt(cpuA, 1)} vs ${fmt(cpuB, 1)} µs` : 'not measurable'})` : ''}${cached ? ` (${a.cacheHitPct}% of jwtgate's answers came from its cache: not a cache-miss figure)` : ''}` : '';
    const pass = !a || !b || cached ? undefined : loadBound ? (byCpu ? cpuA <= cpuB : undefined) : a.rps >= b.rps;
    add(`${s} ≥ HAProxy`, a, b, a && `${fmt(a.rps)} req/s`, b && `${fmt(b.rps)} req/s (HAProxy)`, pass, note);
  }
  const fr = results.find((r) => r.kind === 'open' && r.rate === 2000) ? 'fixed-rate-2000' : undefined;
  if (fr) {
    const a = j(fr);
    const b = h(fr);
    // Latency of wrong answers or dropped requests is not a figure to compare, nor a p99 taken
    // while the queue grew (its value follows the run's length).
    const clean = a && b && cleanRun(a) && cleanRun(b);
    const kept = a && b && sustained(a) && sustained(b);
    const note = !(a && b) ? '' : !clean ? 'not compared: unexpected answers or errors' : !kept ? `not compared: rate not sustained (${[a, b].filter((r) => !sustained(r)).map((r) => `${r.peer} ${fmt(keptRate(r))} req/s answered within the schedule`).join(', ')})` : ratio(a.latency.p99, b.latency.p99);
    add('fixed-rate 2,000 req/s p99 ≤ HAProxy', a, b, a && `${a.latency.p99} ms`, b && `${b.latency.p99} ms (HAProxy)`, clean && kept ? a.latency.p99 <= b.latency.p99 : undefined, note);
  }
  return rows;
}

export function markdown(report) {
  const { meta, results } = report;
  const n = nginxRef(results);
  const lines = [];
  lines.push(`# jwtgate bench: ${meta.timestamp} (${meta.label ?? meta.mode})`);
  lines.push('');
  if (meta.overrides && Object.keys(meta.overrides).length) lines.push(`**Custom run**: settings overridden: ${Object.entries(meta.overrides).map(([k, v]) => `\`${k}=${v}\``).join(', ')}. Not comparable with a default full run as is.\n`);
  if (report.jsonFile) lines.push(`Every figure, per (peer, scenario), and the settings: [${report.jsonFile}](${report.jsonFile}).\n`);
  if (meta.mode === 'smoke') lines.push('**Smoke run**: ~1 s measurements without warm-up, 2,000 tokens per set, to check that every peer and scenario works and passes its probes. The figures mean nothing.\n');
  lines.push(`- Machine: ${meta.cores} cores (${meta.cpuModel}), ${meta.memGiB} GiB, ${meta.os}; Node ${meta.node}; jwtgate git ${meta.git.sha}${meta.git.dirty ? ' (uncommitted changes)' : ''}${meta.jwtgateStale ? ' — **dist/ older than src/ (build failed)**' : ''}`);
  lines.push(`- Peers: ${meta.peers.map((p) => `${p.name} (${p.version}; ${p.config})`).join('; ')}`);
  if (meta.skipped.length) lines.push(`- Skipped: ${meta.skipped.map((s) => `${s.peer}${s.scenario ? `/${s.scenario}` : ''}: ${s.reason}`).join('; ')}`);
  lines.push(`- Load: closed loop = autocannon ${meta.load.autocannon}, ${meta.load.procs} process(es), ${meta.load.connections} connections, pipelining 1, ${meta.durations.warmup} s warm-up + ${meta.durations.closed} s measured; fixed rate = bench/lib/openloop-proc.mjs (open loop, latency from intended send time), ${meta.durations.openWarmup ?? meta.durations.warmup} s warm-up + ${meta.durations.open} s measured; ${meta.tokens} distinct tokens per rotated set`);
  // Reports from before BENCH_ORDER have no `order`: they measured by peer.
  lines.push(
    meta.order === 'interleaved'
      ? '- Order: all peers up at once; each scenario measured on every peer in turn (BENCH_ORDER=interleaved), so the figures of a ratio are minutes apart at most'
      : `- Order: each peer measured through all scenarios, one peer after another${meta.order === 'by-peer' ? ' (BENCH_ORDER=by-peer)' : ''}`,
  );
  if (meta.syscallUs) lines.push(`- Machine speed: ${gaugeText(meta.syscallUs)} per system call (a 1-byte read or write, \`dd\`, at the start / end of the run; bench/lib/gauge.mjs)${meta.meltdown ? `; kernel: ${meta.meltdown}` : ''}, to compare machines between runs.`);
  lines.push(`- CPU placement: ${meta.cpus.description}${meta.nice ? `; every process at nice ${meta.nice}` : ''}. Upstream: ${meta.upstream}.`);
  lines.push(`- CPU columns: % of one core over the measured interval, from /proc/<pid>/stat (all threads and child processes); "peer CPU µs/req" = the peer's CPU time per response (comparable even when the load generator is the limit); "÷ upstream" = the peer's CPU over the upstream's in the same interval, i.e. its cost per request in units of the upstream's (proxied scenarios only): the machine's speed swings move both, so this figure holds still across runs where µs/req and req/s do not; "other" = the rest of the machine (should be ~0).`);
  const nDisturbed = results.filter((r) => r.status === 'ok' && disturbed(r)).length;
  if (nDisturbed) lines.push(`- **⚠ ${nDisturbed} of ${results.filter((r) => r.status === 'ok').length} measurements ran while other processes used more than ${DISTURBED}% of a core** (column "other"): their figures are disturbed; run again on a quiet machine before quoting them. A target with such a figure on either side is not judged.`);
  lines.push('');
  lines.push('## Throughput (closed loop)');
  lines.push('');
  lines.push('| scenario | peer | req/s (expected status) | p50 ms | p99 ms | non-2xx | unexpected | errors | CPU peer | peer CPU µs/req | ÷ upstream | CPU upstream | CPU load | other | × nginx-proxy-only | × HAProxy |');
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  const order = report.scenarios.map((s) => s.name);
  const closed = order.filter((n) => results.some((r) => r.kind === 'closed' && r.scenario === n));
  for (const s of closed) {
    const h = find(results, 'haproxy', s);
    for (const r of results.filter((x) => x.scenario === s)) {
      if (r.status !== 'ok') {
        lines.push(`| ${s} | ${r.peer} | ${r.status}: ${r.reason ?? ''} | | | | | | | | | | | | | |`);
        continue;
      }
      lines.push(
        `| ${s} | ${r.peer}${mark(r)} | ${fmt(r.rps)} | ${fmt(r.latency.p50, 2)} | ${fmt(r.latency.p99, 2)} | ${fmt(r.non2xx)} | ${fmt(r.unexpected)} | ${fmt(r.errors)} | ${fmt(r.cpu.peer)}% | ${fmt(r.cpu.peerUsPerReq, 1)} | ${perUpstream(r)} | ${fmt(r.cpu.upstream)}% | ${fmt(r.cpu.load)}% | ${fmt(r.cpu.other)}% | ${n ? ratio(r.rps, n.rps) : '–'} | ${h ? ratio(r.rps, h.rps) : '–'} |`,
      );
    }
  }
  const open = order.filter((n) => results.some((r) => r.kind === 'open' && r.scenario === n));
  if (open.length) {
    lines.push('');
    lines.push('## Fixed rate (open loop, latency from intended send time)');
    lines.push('');
    lines.push('"send delay" = write time − intended time: the generator\'s own delay plus any wait for a free connection (up to 1,024), i.e. behind a target that holds them all; "generator delay" = the generator\'s own part (intended time → handed to an idle connection or queued for one).');
    lines.push('');
    lines.push('| scenario | peer | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | non-2xx | errors | CPU peer | CPU upstream | send delay p99 ms | generator delay p99 ms | p99 × nginx | p99 × HAProxy |');
    lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const s of open) {
      const h = find(results, 'haproxy', s);
      const nn = find(results, 'nginx-proxy', s);
      for (const r of results.filter((x) => x.scenario === s)) {
        if (r.status !== 'ok') {
          lines.push(`| ${s} | ${r.peer} | ${r.status}: ${r.reason ?? ''} | | | | | | | | | | | | | | |`);
          continue;
        }
        const L = r.latency;
        // p99 ratios only between runs with nothing but expected answers, that both kept the rate.
        const p99Ratio = (o) => (!o || !cleanRun(r) || !cleanRun(o) ? '–' : !sustained(r) || !sustained(o) ? NOT_SUSTAINED : ratio(L.p99, o.latency.p99));
        lines.push(
          `| ${s} | ${r.peer}${mark(r)} | ${fmt(r.load.achievedRate)} | ${fmt(L.p50, 2)} | ${fmt(L.p90, 2)} | ${fmt(L.p99, 2)} | ${fmt(L.p999, 2)} | ${fmt(L.max, 1)} | ${fmt(r.non2xx)} | ${fmt(r.errors)} | ${fmt(r.cpu.peer)}% | ${fmt(r.cpu.upstream)}% | ${fmt(r.load.sendLagP99Ms, 2)} | ${fmt(r.load.genLagP99Ms, 2)} | ${p99Ratio(nn)} | ${p99Ratio(h)} |`,
        );
      }
    }
  }
  const t = targets(results);
  lines.push('');
  lines.push(`## Issue #3 targets (${results.find((r) => r.peer.startsWith('jwtgate'))?.peer ?? 'jwtgate'}, this run)`);
  lines.push('');
  lines.push('| target | jwtgate | reference | ratio | met |');
  lines.push('|---|--:|--:|--:|:-:|');
  for (const row of t) lines.push(`| ${row.target} | ${row.jwtgate ?? 'not measured'} | ${row.reference ?? 'not measured'} | ${row.note} | ${row.verdict === 'no' ? '**no**' : row.verdict} |`);
  const notes = results.filter((r) => r.status === 'ok' && r.notes?.length);
  if (notes.length) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const r of notes) for (const note of r.notes) lines.push(`- ${r.peer} / ${r.scenario}: ${note}`);
  }
  if (report.svg) {
    lines.push('');
    lines.push(`![latency by percentile, ${report.svgScenario}](${report.svg})`);
  }
  lines.push('');
  lines.push('Scenarios: ' + report.scenarios.map((s) => `\`${s.name}\`: ${s.about}`).join('; ') + '.');
  lines.push('');
  return lines.join('\n');
}

/**
 * The summary printed at the end of a run: one row per peer, one column per scenario (req/s, or p99
 * for fixed-rate runs; a status for a failed one, "skipped" for one not measured). Each column is as
 * wide as its widest cell, columns two spaces apart.
 */
export function summaryTable(results, scenarioNames, skipped = []) {
  const header = ['peer', ...scenarioNames.map((s) => s.replace('fixed-rate-', 'p99@'))];
  const peers = [...new Set([...results.map((r) => r.peer), ...skipped.filter((s) => s.scenario).map((s) => s.peer)])];
  const rows = peers.map((p) => [
    p,
    ...scenarioNames.map((s) => {
      const r = results.find((x) => x.peer === p && x.scenario === s);
      if (!r) return skipped.some((x) => x.peer === p && x.scenario === s) ? 'skipped' : '';
      if (r.status !== 'ok') return r.status;
      return r.kind === 'open' ? `${r.latency.p99} ms` : `${Math.round(r.rps).toLocaleString('en-US')}/s`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Writes json/md/svg under `dir` with base name `stamp`; `latest` also refreshes latest.md/svg/json. */
export function writeReport(report, dir, stamp, { latest = false } = {}) {
  const files = {};
  const plotScenario = report.results.find((r) => r.kind === 'open' && r.status === 'ok')?.scenario;
  if (plotScenario) {
    const series = report.results
      .filter((r) => r.scenario === plotScenario && r.status === 'ok' && r.latency.curve)
      .map((r) => ({ name: r.peer, label: r.peer, curve: r.latency.curve, p99: r.latency.p99 }));
    const svg = percentilePlot(series, {
      title: `Latency by percentile at ${plotScenario.replace('fixed-rate-', '')} req/s (open loop)`,
      subtitle: `${report.meta.timestamp} · ${report.meta.cores} cores · Node ${report.meta.node} · ${report.meta.label ?? report.meta.mode} run`,
    });
    files.svg = path.join(dir, `${stamp}.svg`);
    writeFileSync(files.svg, svg);
    report.svg = latest ? 'latest.svg' : `${stamp}.svg`;
    report.svgScenario = plotScenario;
  }
  files.json = path.join(dir, `${stamp}.json`);
  // The issue #3 targets as the Markdown gives them (verdicts included), recomputed on a re-render.
  // `pass` null, not left out, where the run cannot judge the target (its verdict says why).
  report.targets = targets(report.results).map((t) => ({ ...t, pass: t.pass ?? null }));
  writeFileSync(files.json, JSON.stringify(report, null, 1) + '\n');
  // The dated .md links its own .svg; latest.md links latest.svg.
  const md = markdown({ ...report, svg: report.svg ? `${stamp}.svg` : undefined, jsonFile: `${stamp}.json` });
  files.md = path.join(dir, `${stamp}.md`);
  writeFileSync(files.md, md);
  if (latest) {
    // latest.md links the dated JSON (the run's own record); latest.json is a copy of it.
    writeFileSync(path.join(dir, 'latest.md'), markdown({ ...report, svg: report.svg ? 'latest.svg' : undefined, jsonFile: `${stamp}.json` }));
    if (files.svg) copyFileSync(files.svg, path.join(dir, 'latest.svg'));
    copyFileSync(files.json, path.join(dir, 'latest.json'));
    files.latest = path.join(dir, 'latest.md');
  }
  return files;
}

// Re-renders the Markdown and SVG of a saved run (after a report change):
//   node bench/lib/report.mjs results/<stamp>.json [--latest]
if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) {
  const { readFileSync } = await import('node:fs');
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node bench/lib/report.mjs RESULTS.json [--latest]\n');
    process.exit(2);
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const stamp = path.basename(file, '.json');
  const files = writeReport(report, path.dirname(file), stamp, { latest: process.argv.includes('--latest') });
  process.stdout.write(`${files.md}\n${files.svg ?? ''}\n`);
}

/** "1.27 / 1.31 µs" from { start, end } (either may be null: dd missing). */
function gaugeText(g) {
  const f = (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(2));
  return `${f(g.start)} / ${f(g.end)} µs`;
}
