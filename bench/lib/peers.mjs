// The peers under test. Each one protects (or, for the references, just reaches) the same bench
// upstream, with the same keys and claims. A peer is
//   { name, label, jwt: boolean, check(ctx) -> {ok, reason?, version?}, start(ctx) -> running }
// and a running peer is { url, pid (process group to account CPU to, or undefined), version,
// config (what a reader needs to reproduce it), adminUrl?, stop() }.
// ctx: { root, benchDir, dir (run temp dir), upstreamPort, keys, env, log }.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnChild, freePort, freePorts, waitForHttp, waitForLine } from './proc.mjs';
import { ISSUER, AUDIENCE } from './keys.mjs';

const require = createRequire(import.meta.url);

/** Waits for a spawned peer to come up; a peer that does not is stopped before the error goes on (it would hold its port and CPU for the rest of the run). */
async function orStop(h, wait) {
  try {
    return await wait();
  } catch (err) {
    await h.stop();
    throw err;
  }
}

function render(template, vars) {
  return template.replace(/\{\{(\w+)\}\}/g, (m, k) => {
    if (!(k in vars)) throw new Error(`template variable ${k} not set`);
    return String(vars[k]);
  });
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])) {
    const p = path.join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function versionOf(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return (`${r.stdout ?? ''}${r.stderr ?? ''}`.match(re) ?? [])[1];
}

function pkgVersion(name, from) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`, { paths: [from] }), 'utf8')).version;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

export const upstreamDirect = {
  name: 'upstream-direct',
  label: 'upstream (direct)',
  jwt: false,
  check: () => ({ ok: true, version: `node ${process.version}` }),
  async start(ctx) {
    return { url: `http://127.0.0.1:${ctx.upstreamPort}`, pid: undefined, version: `node ${process.version} http`, config: 'the upstream itself, no proxy', stop: async () => {} };
  },
};

export const nginxProxy = {
  name: 'nginx-proxy',
  label: 'nginx (proxy only, no JWT)',
  jwt: false,
  check() {
    const bin = which('nginx');
    if (!bin) return { ok: false, reason: 'nginx not found (apt-get install -y nginx)' };
    return { ok: true, version: versionOf(bin, ['-v'], /nginx\/(\S+)/), bin };
  },
  async start(ctx) {
    const bin = which('nginx');
    const dir = path.join(ctx.dir, 'nginx');
    for (const d of ['', 'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d), { recursive: true });
    const port = await freePort();
    const workers = ctx.env.BENCH_NGINX_WORKERS ?? 'auto';
    const conf = render(readFileSync(path.join(ctx.benchDir, 'peers/nginx.conf.tmpl'), 'utf8'), { DIR: dir, WORKERS: workers, PORT: port, UPSTREAM_PORT: ctx.upstreamPort });
    const confPath = path.join(dir, 'nginx.conf');
    writeFileSync(confPath, conf);
    try {
      execFileSync(bin, ['-t', '-q', '-c', confPath, '-p', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`nginx -t rejected ${confPath}:\n${err.stderr}`);
    }
    const h = spawnChild('nginx', bin, ['-c', confPath, '-p', dir], { cpus: ctx.cpus.peer });
    const url = `http://127.0.0.1:${port}`;
    await orStop(h, () => waitForHttp(`${url}/headers`, { handle: h }));
    return { url, pid: h.pid, version: versionOf(bin, ['-v'], /nginx\/(\S+)/), config: `worker_processes ${workers}, upstream keepalive 256`, stop: () => h.stop() };
  },
};

export const haproxy = {
  name: 'haproxy',
  label: 'HAProxy jwt_verify',
  jwt: true,
  check() {
    const bin = which('haproxy');
    if (!bin) return { ok: false, reason: 'haproxy not found (apt-get install -y haproxy)' };
    const version = versionOf(bin, ['-v'], /version (\S+)/);
    const [maj, min] = (version ?? '0.0').split('.').map(Number);
    if (maj < 2 || (maj === 2 && min < 5)) return { ok: false, reason: `haproxy ${version} has no jwt_verify (needs >= 2.5)` };
    return { ok: true, version, bin };
  },
  async start(ctx) {
    const bin = which('haproxy');
    const dir = path.join(ctx.dir, 'haproxy');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const threads = ctx.env.BENCH_HAPROXY_THREADS;
    const cfg = render(readFileSync(path.join(ctx.benchDir, 'peers/haproxy.cfg.tmpl'), 'utf8'), {
      NBTHREAD: threads ? `nbthread ${threads}` : '# nbthread: default (one per CPU the process may run on)',
      PORT: port,
      UPSTREAM_PORT: ctx.upstreamPort,
      ISSUER,
      AUDIENCE,
      RS256_PEM: ctx.keys.RS256.pubPemPath,
      ES256_PEM: ctx.keys.ES256.pubPemPath,
    });
    const cfgPath = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfgPath, cfg);
    try {
      execFileSync(bin, ['-c', '-q', '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw new Error(`haproxy -c rejected ${cfgPath}:\n${err.stdout}${err.stderr}`);
    }
    const h = spawnChild('haproxy', bin, ['-db', '-f', cfgPath], { cpus: ctx.cpus.peer });
    const url = `http://127.0.0.1:${port}`;
    await orStop(h, () => waitForHttp(`${url}/headers`, { handle: h }));
    return { url, pid: h.pid, version: versionOf(bin, ['-v'], /version (\S+)/), config: threads ? `nbthread ${threads}` : 'nbthread default (= CPUs)', stop: () => h.stop() };
  },
};

function fastifyPeer(name, cacheSize) {
  return {
    name,
    label: `fastify + @fastify/jwt (${cacheSize ? `cache ${cacheSize}` : 'no cache'})`,
    jwt: true,
    check(ctx) {
      const v = pkgVersion('fastify', ctx.benchDir);
      if (!v) return { ok: false, reason: 'fastify not installed under bench/ (npm ci --prefix bench)' };
      return { ok: true, version: `fastify ${v}` };
    },
    async start(ctx) {
      const h = spawnChild(name, process.execPath, [
        path.join(ctx.benchDir, 'peers/fastify-peer.mjs'),
        '--port', '0',
        '--upstream', `http://127.0.0.1:${ctx.upstreamPort}`,
        '--rs256-pem', ctx.keys.RS256.pubPemPath,
        '--es256-pem', ctx.keys.ES256.pubPemPath,
        '--issuer', ISSUER,
        '--audience', AUDIENCE,
        '--cache', String(cacheSize),
      ], { cpus: ctx.cpus.peer, cwd: ctx.benchDir });
      const m = await orStop(h, () => waitForLine(h, /listening (\d+)/));
      const url = `http://127.0.0.1:${m[1]}`;
      const d = ctx.benchDir;
      return {
        url,
        pid: h.pid,
        version: `fastify ${pkgVersion('fastify', d)}, @fastify/jwt ${pkgVersion('@fastify/jwt', d)}, fast-jwt ${pkgVersion('fast-jwt', path.join(d, 'node_modules/@fastify/jwt'))}, @fastify/reply-from ${pkgVersion('@fastify/reply-from', d)}`,
        config: `1 process; fast-jwt cache ${cacheSize ? cacheSize : 'off'}; reply-from undici 256 connections`,
        stop: () => h.stop(),
      };
    },
  };
}

export const fastifyJwtCache = fastifyPeer('fastify-jwt-cache', 1000);
export const fastifyJwt = fastifyPeer('fastify-jwt', 0);

/** jwtgate in one process; `mode` is its --verify-mode (auto, pool or inline). */
export function jwtgatePeer(mode = 'auto', extraArgs = [], nodeArgs = []) {
  const name = mode === 'auto' ? 'jwtgate' : `jwtgate-${mode}`;
  return {
    name,
    label: `jwtgate (${nodeArgs.length ? 'node ' + nodeArgs.join(' ') + ', ' : ''}--verify-mode ${mode}${extraArgs.length ? ' ' + extraArgs.join(' ') : ''})`,
    jwt: true,
    check(ctx) {
      const cli = path.join(ctx.root, 'dist/src/cli.js');
      if (!existsSync(cli)) return { ok: false, reason: `${cli} missing (npm run build failed?)` };
      return { ok: true, version: pkgVersion('jwtgate', ctx.root) ?? JSON.parse(readFileSync(path.join(ctx.root, 'package.json'), 'utf8')).version };
    },
    async start(ctx) {
      const dir = path.join(ctx.dir, name);
      mkdirSync(dir, { recursive: true });
      const manifest = render(readFileSync(path.join(ctx.benchDir, 'config/jwtgate-bench.yaml.tmpl'), 'utf8'), {
        UPSTREAM_PORT: ctx.upstreamPort,
        ISSUER,
        AUDIENCE,
        JWKS: JSON.stringify(ctx.keys.jwks),
      });
      writeFileSync(path.join(dir, 'bench.yaml'), manifest);
      const [port, adminPort] = await freePorts(2);
      const args = [
        ...nodeArgs,
        path.join(ctx.root, 'dist/src/cli.js'),
        'serve',
        '--config', dir,
        '--port-map', `8080=${port}`,
        '--host', '127.0.0.1',
        '--admin', `127.0.0.1:${adminPort}`,
        '--verify-mode', mode,
        '--log-level', 'warn',
        ...extraArgs,
      ];
      const h = spawnChild(name, process.execPath, args, { cpus: ctx.cpus.peer, cwd: ctx.root });
      const adminUrl = `http://127.0.0.1:${adminPort}`;
      await orStop(h, () => waitForHttp(`${adminUrl}/ready`, { handle: h, accept: (s) => s === 200, timeoutMs: 20_000 }));
      const url = `http://127.0.0.1:${port}`;
      await orStop(h, () => waitForHttp(`${url}/headers`, { handle: h }));
      return {
        url,
        adminUrl,
        pid: h.pid,
        version: this.check(ctx).version,
        config: `1 process: node ${args.join(' ').replaceAll(ctx.root + '/', '')}`,
        output: () => h.output(),
        stop: () => h.stop(),
      };
    },
  };
}

/** The peers in run order: references first, so ratios can be computed as results come in. */
export function allPeers(env) {
  const modes = (env.BENCH_JWTGATE_MODES ?? 'auto').split(',').map((s) => s.trim()).filter(Boolean);
  const { extra, nodeArgs } = jwtgateArgs(env);
  return [upstreamDirect, nginxProxy, haproxy, fastifyJwtCache, fastifyJwt, ...modes.map((m) => jwtgatePeer(m, extra, nodeArgs))];
}

/** BENCH_JWTGATE_ARGS (extra `serve` flags) and BENCH_JWTGATE_NODE_ARGS (node/V8 flags), split on whitespace. */
export function jwtgateArgs(env) {
  const words = (v) => (v ?? '').split(/\s+/).filter(Boolean);
  return { extra: words(env.BENCH_JWTGATE_ARGS), nodeArgs: words(env.BENCH_JWTGATE_NODE_ARGS) };
}
