// Makes sure what the harness needs is there, using node built-ins only (this runs before any
// bench dependency can be imported):
//   - bench/node_modules (npm ci --prefix bench),
//   - jwtgate's dist/ (npm ci at the root when node_modules is missing, which builds through
//     `prepare`; npm run build when dist is missing or older than src/ or workers/),
//   - haproxy and nginx (apt-get install -y, as root, with apt-get update when the first try fails).
// Nothing here is fatal: what cannot be had is reported and the peers needing it are skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'], encoding: 'utf8', timeout: opts.timeoutMs ?? 600_000, cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  return { ok: r.status === 0, status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

function hasBin(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) if (dir && existsSync(path.join(dir, cmd))) return true;
  return false;
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export function ensureBenchDeps(benchDir, log) {
  const need = ['autocannon', 'hdr-histogram-js', 'fastify', '@fastify/jwt', '@fastify/reply-from'];
  const missing = need.filter((m) => !existsSync(path.join(benchDir, 'node_modules', m, 'package.json')));
  if (missing.length === 0) return true;
  log(`bench dependencies missing (${missing.join(', ')}): npm ci --prefix bench`);
  const r = run('npm', ['ci', '--prefix', benchDir, '--no-audit', '--no-fund'], { timeoutMs: 300_000 });
  if (!r.ok) {
    log(`npm ci --prefix bench failed (exit ${r.status}); cannot run the harness`);
    return false;
  }
  return true;
}

/** Returns { ok, reason? }: whether dist/src/cli.js is there and not older than the sources. */
export function ensureBuilt(root, log, { build = true } = {}) {
  const cli = path.join(root, 'dist/src/cli.js');
  if (!existsSync(path.join(root, 'node_modules'))) {
    if (!build) return { ok: existsSync(cli), reason: 'node_modules missing' };
    log('jwtgate dependencies missing: npm ci (builds dist/ through prepare)');
    const r = run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, timeoutMs: 600_000 });
    if (!r.ok) return { ok: existsSync(cli), reason: `npm ci failed (exit ${r.status})` };
  }
  const srcNewest = Math.max(newestMtime(path.join(root, 'src')), newestMtime(path.join(root, 'workers')));
  const distTime = existsSync(cli) ? statSync(cli).mtimeMs : 0;
  if (build && (!existsSync(cli) || srcNewest > distTime)) {
    log(existsSync(cli) ? 'dist/ is older than src/: building (tsc -p tsconfig.json)' : 'dist/ missing: building (tsc -p tsconfig.json)');
    // tsc directly (what `npm run build` runs), so a broken package.json script section cannot stop it.
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const r = existsSync(tsc) ? run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, timeoutMs: 600_000 }) : run('npm', ['run', 'build'], { cwd: root, timeoutMs: 600_000 });
    if (!r.ok) {
      if (!existsSync(cli)) return { ok: false, reason: `the build (tsc -p tsconfig.json) failed (exit ${r.status})` };
      log(`the build (tsc -p tsconfig.json) failed (exit ${r.status}): measuring the existing, older dist/ (results say so)`);
      return { ok: true, stale: true };
    }
  }
  if (!existsSync(cli)) return { ok: false, reason: `${cli} missing` };
  return { ok: true };
}

/** apt-get install -y haproxy nginx for whichever is missing, when root and apt-get exist. */
export function ensureSystemPeers(log, { install = true } = {}) {
  const wanted = [
    ['haproxy', 'haproxy'],
    ['nginx', 'nginx'],
  ];
  const missing = wanted.filter(([bin]) => !hasBin(bin)).map(([, pkg]) => pkg);
  if (missing.length === 0) return { missing: [] };
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!install) {
    log(`not installed: ${missing.join(', ')} (BENCH_NO_INSTALL set); those peers are skipped`);
    return { missing };
  }
  if (!isRoot || !hasBin('apt-get')) {
    log(`not installed: ${missing.join(', ')}; ${isRoot ? 'apt-get not found' : 'not root'}, so run "apt-get install -y ${missing.join(' ')}" yourself; those peers are skipped`);
    return { missing };
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  log(`installing ${missing.join(', ')}: apt-get install -y ${missing.join(' ')}`);
  let r = run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, quiet: true, timeoutMs: 300_000 });
  if (!r.ok) {
    log('apt-get install failed; apt-get update, then again');
    run('apt-get', ['update'], { env, quiet: true, timeoutMs: 300_000 });
    r = run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, quiet: true, timeoutMs: 300_000 });
  }
  const still = wanted.filter(([bin]) => !hasBin(bin)).map(([, pkg]) => pkg);
  if (still.length) log(`still missing after apt-get: ${still.join(', ')} (last output: ${r.out.trim().split('\n').slice(-3).join(' | ')}); those peers are skipped`);
  return { missing: still };
}
