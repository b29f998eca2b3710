#!/usr/bin/env node
// How long a configuration reload holds up requests:
//   node bench/tools/reload-stall.mjs [--routes N] [--rounds R] [--dist DIR]...
// Writes N HTTPRoutes, each with a TrafficPolicy (2N resources, valid, attached to the default
// config's Gateway), starts `serve` on config/default plus them (one process per --dist build,
// default ./dist; several builds are run alternately, R rounds), asks the admin endpoint's /ready
// one request after another (5 ms apart), sends SIGHUP, and reports the longest wait of a request
// between the signal and the `configuration reloaded` line, with the reload's own durationMs.
// The admin endpoint runs on the gateway's event loop, so its wait is any request's wait.
// Exits 1 if a gateway does not come up or its reload is not applied.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function usage(msg) {
  console.error(`${msg}\nusage: node bench/tools/reload-stall.mjs [--routes N] [--rounds R] [--dist DIR]...`);
  process.exit(2);
}

const args = process.argv.slice(2);
let routes = 2000;
let rounds = 1;
const dists = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const v = args[i + 1];
  if (a === '--routes' || a === '--rounds') {
    if (!/^[1-9][0-9]*$/.test(v ?? '')) usage(`${a} takes a positive whole number, not ${JSON.stringify(v)}`);
    if (a === '--routes') routes = Number(v);
    else rounds = Number(v);
    i++;
  } else if (a === '--dist') {
    if (!v) usage('--dist takes a folder (a build\'s dist/)');
    dists.push(path.resolve(v));
    i++;
  } else usage(`unknown argument ${JSON.stringify(a)}`);
}
if (dists.length === 0) dists.push(path.join(ROOT, 'dist'));

function manifests(n) {
  const docs = [];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${i}, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [h${i}.example.net]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /a${i} } }, { headers: [{ name: x-v, value: "${i}" }] }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-r, value: "${i}" }] } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
`, `apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: p${i}, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r${i} }]
  headerModifiers: { request: { add: [{ name: x-p, value: "${i}" }] } }
`);
  }
  return docs.join('---\n');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(dist, dir) {
  const admin = await freePort();
  const child = spawn(process.execPath, [path.join(dist, 'src/cli.js'), 'serve', '--config', path.join(ROOT, 'config/default'), '--config', dir,
    '--admin', `127.0.0.1:${admin}`, '--port-map', '8080=0', '--echo-upstream', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // The wait of one /ready request in ms, or -1 (not 200, or no answer).
  const ready = () => new Promise((resolve) => {
    const t = performance.now();
    http.get({ host: '127.0.0.1', port: admin, path: '/ready', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t : -1));
    }).on('error', () => resolve(-1));
  });
  try {
    const deadline = performance.now() + 120_000;
    while ((await ready()) < 0) {
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`the gateway did not become ready:\n${log.slice(-2000)}`);
      await sleep(100);
    }
    await sleep(500);
    const waits = [];
    const marker = log.length;
    child.kill('SIGHUP');
    const t0 = performance.now();
    for (;;) {
      const w = await ready();
      if (w < 0) throw new Error(`/ready failed during the reload:\n${log.slice(-2000)}`);
      waits.push(w);
      const after = log.slice(marker);
      if (/"msg":"configuration reloaded"/.test(after)) break;
      if (/configuration reload failed/.test(after)) throw new Error(`the reload failed:\n${after.slice(0, 2000)}`);
      if (performance.now() - t0 > 120_000) throw new Error('no reload outcome after 120 s');
      await sleep(5);
    }
    const line = log.slice(marker).split('\n').find((l) => l.includes('"msg":"configuration reloaded"'));
    const info = JSON.parse(line);
    waits.sort((a, b) => a - b);
    return { maxWaitMs: Math.round(waits.at(-1)), p50WaitMs: +waits[waits.length >> 1].toFixed(2), requests: waits.length, reloadDurationMs: Math.round(info.durationMs), errors: info.errors };
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'jwtgate-reload-stall-'));
let failed = false;
try {
  const text = manifests(routes);
  writeFileSync(path.join(dir, 'routes.yaml'), text);
  console.log(`# ${routes * 2} resources (${(text.length / 1e6).toFixed(2)} MB of YAML) on config/default; ${rounds} round(s)`);
  console.log('| round | build | longest wait of a request (ms) | median wait (ms) | requests during the reload | reload durationMs |');
  console.log('|--:|---|--:|--:|--:|--:|');
  for (let r = 1; r <= rounds; r++) {
    for (const dist of dists) {
      const m = await measure(dist, dir);
      if (m.errors !== 0) {
        failed = true;
        console.error(`${dist}: the reloaded configuration has ${m.errors} errors (the generated manifests should be valid)`);
      }
      console.log(`| ${r} | ${path.relative(process.cwd(), dist) || '.'} | ${m.maxWaitMs} | ${m.p50WaitMs} | ${m.requests} | ${m.reloadDurationMs} |`);
    }
  }
} catch (err) {
  failed = true;
  console.error(String(err?.message ?? err));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
