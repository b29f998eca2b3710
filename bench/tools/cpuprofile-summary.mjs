#!/usr/bin/env node
// Where one thread's time went in a V8 .cpuprofile (from `node --cpu-prof`, one file per thread):
//   node bench/tools/cpuprofile-summary.mjs FILE.cpuprofile [--us-per-request N] [--top N]
// Self time grouped by where the code lives: a package under node_modules, a directory of
// jwtgate's dist/src (or dist/workers), or GC/program. Time in Node internals, natives and wasm
// goes to the nearest caller that has a group, as "<group> (node/native)": a socket write under
// undici is undici's, a uWS call under jwtgate's HTTP glue is that glue's. Shares are of the
// thread's busy time (idle excluded); --us-per-request scales them to a measured CPU µs per
// request (bench/cpu.mjs's "main" column for the main thread). Then the top functions by self time.
// A verify worker blocked in piscina's Atomics.wait counts as idle.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const SPECIAL = { '(idle)': 'idle', '(garbage collector)': 'GC', '(program)': 'program (V8/native, no JS frame)', '(root)': 'idle' };
const NO_CALLER = 'node/native (no caller with a group)';
// JS functions whose self time is a thread blocked waiting for work, not working: piscina's
// worker loop sleeps in Atomics.wait, which the profiler charges to it. Counted as idle.
const WAITS = new Set(['piscina:atomicsWaitLoop']);

/** The group of a frame's own code, or undefined for Node internals, natives and wasm. */
export function ownGroup(callFrame) {
  const special = SPECIAL[callFrame.functionName];
  if (special && callFrame.url === '') return special;
  const url = callFrame.url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const src = /\/dist\/(src\/[^/]+|workers)\//.exec(url) ?? /\/dist\/(src)\/[^/]+$/.exec(url);
  if (src) return `jwtgate ${src[1]}`;
  if (url.startsWith('file://') || url.startsWith('/')) return 'other script';
  return undefined;
}

/**
 * Self time per group and per function of a parsed .cpuprofile.
 * @returns {{ busyUs: number, idleUs: number, groups: [string, number][], functions: [string, string, number][] }}
 */
export function summarize(profile) {
  const byId = new Map();
  const parent = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const groupOf = new Map();
  const resolve = (id) => {
    if (groupOf.has(id)) return groupOf.get(id);
    const own = ownGroup(byId.get(id).callFrame);
    let g = own;
    if (g === undefined) {
      const p = parent.get(id);
      const up = p === undefined ? undefined : resolve(p);
      g = up === undefined || up === 'idle' || up === NO_CALLER ? NO_CALLER : up.endsWith(' (node/native)') ? up : `${up} (node/native)`;
    }
    groupOf.set(id, g);
    return g;
  };
  // Parents before children, so the recursion above stays shallow.
  for (const n of profile.nodes) resolve(n.id);
  const groups = new Map();
  const functions = new Map();
  let busyUs = 0;
  let idleUs = 0;
  for (const n of profile.nodes) {
    const t = selfUs.get(n.id) ?? 0;
    if (t === 0) continue;
    const g = groupOf.get(n.id);
    if (g === 'idle' || WAITS.has(`${g}:${n.callFrame.functionName}`)) {
      idleUs += t;
      continue;
    }
    busyUs += t;
    groups.set(g, (groups.get(g) ?? 0) + t);
    const cf = n.callFrame;
    const file = cf.url.split('/').slice(-2).join('/');
    const key = `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
    const f = functions.get(key) ?? [g, 0];
    f[1] += t;
    functions.set(key, f);
  }
  const desc = (a, b) => b.at(-1) - a.at(-1);
  return {
    busyUs,
    idleUs,
    groups: [...groups].sort(desc),
    functions: [...functions].map(([k, [g, t]]) => [k, g, t]).sort(desc),
  };
}

function main() {
  const usage = 'usage: node bench/tools/cpuprofile-summary.mjs FILE.cpuprofile [--us-per-request N] [--top N]';
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { 'us-per-request': { type: 'string' }, top: { type: 'string', default: '15' } },
    });
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    console.error(usage);
    process.exit(2);
  }
  const perReq = values['us-per-request'] === undefined ? undefined : Number(values['us-per-request']);
  if (perReq !== undefined && !(perReq > 0)) {
    console.error(`--us-per-request must be a positive number, not ${JSON.stringify(values['us-per-request'])}`);
    process.exit(2);
  }
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 0) {
    console.error(`--top must be a whole number, not ${JSON.stringify(values.top)}`);
    process.exit(2);
  }
  let profile;
  try {
    profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
  } catch (e) {
    console.error(`${positionals[0]}: ${e.message}`);
    process.exit(2);
  }
  if (!Array.isArray(profile?.nodes) || !Array.isArray(profile?.samples) || !Array.isArray(profile?.timeDeltas)) {
    console.error(`${positionals[0]}: not a V8 .cpuprofile (no nodes/samples/timeDeltas)`);
    process.exit(2);
  }
  const s = summarize(profile);
  const total = s.busyUs + s.idleUs;
  console.log(`${(total / 1e6).toFixed(2)} s profiled, ${total ? ((100 * s.busyUs) / total).toFixed(1) : '0.0'}% busy`);
  const row = (t) => {
    const share = s.busyUs ? t / s.busyUs : 0;
    return `${(100 * share).toFixed(1).padStart(5)}%${perReq === undefined ? '' : `${(share * perReq).toFixed(1).padStart(7)} µs`}`;
  };
  console.log(`\nself time by group (share of busy time${perReq === undefined ? '' : `; µs of ${perReq} per request`})`);
  for (const [g, t] of s.groups) console.log(`${row(t)}  ${g}`);
  if (top > 0) {
    console.log(`\ntop ${top} functions by self time`);
    for (const [f, g, t] of s.functions.slice(0, top)) console.log(`${row(t)}  ${f}  [${g}]`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
