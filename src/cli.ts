#!/usr/bin/env node
// `jwtgate serve|check`: flags, signals and exit codes; nothing else. Everything a flag controls
// is implemented elsewhere (src/gateway.ts, src/config/*).

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { Gateway } from './gateway.js';
import { ConfigError, StartupError, type ConfigProblem } from './errors.js';
import type { Snapshot } from './config/snapshot.js';
import { compileFiles } from './config/build.js';
import { formatCheckReport } from './config/report.js';
import { startAdmin, type AdminServer } from './observability/admin.js';
import { absorbStdioErrors, createLogger, isLogLevel, type Logger } from './observability/log.js';
import { configFingerprint } from './config/load.js';
import { startEchoUpstream } from './upstream/echo.js';
import { UwsLoadError } from './http/uws.js';
import { lookup } from 'node:dns/promises';
import { DNS_NAME, hostKind } from './util/host.js';

const USAGE = `Usage:
  jwtgate serve --config PATH [--config PATH…] [options]
  jwtgate check --config PATH [--config PATH…] [--output text|json] [--cluster-domain DOMAIN] [--global-policy-namespace NS]
  jwtgate version

PATH is a manifest file (.yaml, .yml, .json; multi-document YAML) or a folder of them.

serve options:
  --admin HOST:PORT              admin endpoint: /ready, /healthz, /config_dump, /metrics (default: off)
  --host ADDR                    address every Gateway listener binds (default 0.0.0.0)
  --port-map LISTENER=PORT       bind Gateway listener port LISTENER on PORT instead (repeatable; 0 = any free port)
  --cluster-domain DOMAIN        Service backends resolve as NAME.NAMESPACE.svc.DOMAIN (default cluster.local)
  --global-policy-namespace NS   TrafficPolicies and BackendConfigPolicies in NS attach through targetSelectors to
                                 resources of every namespace (kgateway's KGW_GLOBAL_POLICY_NAMESPACE; default: off)
  --verify-threads N             signature-check worker threads, at most 256 (default: number of cores)
  --verify-mode pool|inline|auto where signatures are checked (default auto)
  --max-request-headers-bytes N  431 above this many header bytes (default 61440, Envoy's 60 KiB)
  --upstream-timeout-ms N        route timeout of routes that set none: 504 without a response head N ms after the request went
                                 upstream; a response still coming then is cut (default 15000, Envoy's 15 s; 0: none)
  --upstream-max-connections N   connections per upstream endpoint (default 128)
  --upstream-max-pending N       requests per endpoint that may wait for a connection; the next gets 503 (default 1024, Envoy's)
  --max-request-body-bytes N     413 for a request body over N bytes, declared or streamed (default 0: no limit, as Envoy)
  --jwks-refetch-cooldown-ms N   remote JWKS: at most one early refetch per key set per N ms when a token's kid is unknown
                                 (default 30000; 0: none, as Envoy, which waits for the next scheduled fetch)
  --watch-config-ms N            look at the --config files every N ms and reload once a change has settled (default 0: off, reload on SIGHUP only)
  --echo-upstream HOST:PORT      also start the bundled httpbin-style echo upstream there
  --strict                       refuse to start if any resource is invalid (default: serve the valid parts, like kgateway)
  --access-log                   one JSON log line per request (default off)
  --log-level debug|info|warn|error  (default info)

check options:
  --cluster-domain DOMAIN        as for serve
  --global-policy-namespace NS   as for serve
  --output text|json             report format (default text)

Exit codes: 0 ok, 1 invalid configuration or start-up failure, 2 usage error.`;

class UsageError extends Error {}

const PORT_TEXT = /^[0-9]{1,5}$/;
/** More verify threads than this only cost memory (each is a V8 isolate) on any machine. */
const MAX_VERIFY_THREADS = 256;

function hostPort(flag: string, v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const port = Number(v.slice(i + 1));
  // Number('') is 0: an empty port must be a usage error, not "any free port".
  if (i <= 0 || !PORT_TEXT.test(v.slice(i + 1)) || port > 65535) throw new UsageError(`${flag} expects HOST:PORT, got "${v}"`);
  return { host: v.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

/** --cluster-domain: a DNS domain (`cluster.local`), or absent. */
function clusterDomainFlag(v: string | undefined): void {
  if (v !== undefined && !DNS_NAME.test(v)) throw new UsageError(`--cluster-domain expects a DNS domain such as cluster.local, got "${v}"`);
}

/** A namespace name (RFC 1123 label, as Kubernetes wants it), or undefined when the flag is absent. */
function namespaceFlag(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v)) throw new UsageError(`--global-policy-namespace expects a namespace name (lower-case letters, digits and '-', at most 63), got "${v}"`);
  return v;
}

/** An integer flag value of at least `min` (1 unless said), or undefined when the flag is absent. */
function intFlag(flag: string, v: string | undefined, min: 0 | 1 = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  // Decimal digits only: Number() also reads `0x10`, `1e2` and ` 5 `.
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} expects ${min === 1 ? 'a positive integer' : 'an integer ≥ 0'}, got "${v}"`);
  return n;
}

/** `--host`: an address, or a name that resolves (to one of this machine's, which listening then tells). */
async function hostFlag(host: string): Promise<void> {
  const kind = hostKind(host.replace(/^\[|\]$/g, ''));
  if (kind === 'ip') return;
  if (kind === undefined) throw new UsageError(`--host expects an address such as 0.0.0.0, 127.0.0.1 or ::, or a host name, got "${host}"`);
  try {
    await lookup(host);
  } catch (err) {
    throw new UsageError(`--host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)}): give an address of this machine, such as 0.0.0.0 or 127.0.0.1`);
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', multiple: true },
      admin: { type: 'string' },
      host: { type: 'string' },
      'port-map': { type: 'string', multiple: true },
      'cluster-domain': { type: 'string' },
      'global-policy-namespace': { type: 'string' },
      'verify-threads': { type: 'string' },
      'verify-mode': { type: 'string' },
      'max-request-headers-bytes': { type: 'string' },
      'upstream-timeout-ms': { type: 'string' },
      'upstream-max-connections': { type: 'string' },
      'upstream-max-pending': { type: 'string' },
      'max-request-body-bytes': { type: 'string' },
      'jwks-refetch-cooldown-ms': { type: 'string' },
      'watch-config-ms': { type: 'string' },
      'echo-upstream': { type: 'string' },
      strict: { type: 'boolean' },
      'access-log': { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be debug, info, warn or error, got "${level}"`);
  const log = createLogger(level);
  if (!values.config?.length) throw new UsageError('serve needs at least one --config PATH');
  const portOverrides = new Map<number, number>();
  for (const m of values['port-map'] ?? []) {
    const [a = '', b = '', ...rest] = m.split('=');
    const from = Number(a);
    const to = Number(b);
    if (rest.length > 0 || !PORT_TEXT.test(a) || !PORT_TEXT.test(b) || from < 1 || from > 65535 || to > 65535) throw new UsageError(`--port-map expects LISTENER=PORT, got "${m}"`);
    if (to !== 0 && [...portOverrides].some(([f, t]) => t === to && f !== from)) throw new UsageError(`--port-map maps two listener ports to port ${to}`);
    portOverrides.set(from, to);
  }
  const mode = values['verify-mode'];
  if (mode !== undefined && mode !== 'pool' && mode !== 'inline' && mode !== 'auto') throw new UsageError(`--verify-mode must be pool, inline or auto, got "${mode}"`);
  if (values.host === '') throw new UsageError('--host expects an address, got ""');
  clusterDomainFlag(values['cluster-domain']);
  const globalPolicyNamespace = namespaceFlag(values['global-policy-namespace']);
  const admin = values.admin !== undefined ? hostPort('--admin', values.admin) : undefined;
  const echo = values['echo-upstream'] !== undefined ? hostPort('--echo-upstream', values['echo-upstream']) : undefined;

  // Every flag checked before anything is started.
  const verifyThreads = intFlag('--verify-threads', values['verify-threads']);
  if (verifyThreads !== undefined && verifyThreads > MAX_VERIFY_THREADS) throw new UsageError(`--verify-threads must be at most ${MAX_VERIFY_THREADS}, got "${values['verify-threads']}"`);
  const maxRequestHeadersBytes = intFlag('--max-request-headers-bytes', values['max-request-headers-bytes']);
  const upstreamTimeoutMs = intFlag('--upstream-timeout-ms', values['upstream-timeout-ms'], 0);
  const upstreamMaxConnections = intFlag('--upstream-max-connections', values['upstream-max-connections']);
  const upstreamMaxPending = intFlag('--upstream-max-pending', values['upstream-max-pending'], 0);
  const maxRequestBodyBytes = intFlag('--max-request-body-bytes', values['max-request-body-bytes'], 0);
  const jwksRefetchCooldownMs = intFlag('--jwks-refetch-cooldown-ms', values['jwks-refetch-cooldown-ms'], 0);
  const watchConfigMs = intFlag('--watch-config-ms', values['watch-config-ms'], 0) ?? 0;
  if (watchConfigMs > 0 && watchConfigMs < MIN_WATCH_MS) throw new UsageError(`--watch-config-ms must be 0 (off) or at least ${MIN_WATCH_MS}, got "${values['watch-config-ms']}"`);
  if (values.host !== undefined) await hostFlag(values.host);

  // Signals are handled from here on: during start-up (which can wait up to 15 s for a first
  // remote JWKS fetch, before any listener is bound) one ends the start with exit 0; once
  // serving, one drains. A second signal of any kind ends the process at once.
  let stopping = false;
  /** Set once started (the admin endpoint and SIGHUP read it). */
  let gateway: Gateway | undefined;
  let drain: ((signal: string) => void) | undefined;
  let abortStart: (signal: string) => void = () => {};
  const aborted = new Promise<{ signal: string }>((r) => (abortStart = (signal) => r({ signal })));
  const onSignal = (signal: string): void => {
    if (stopping) {
      log.warn('second signal: exiting without waiting for requests in flight', { signal });
      process.exit(1);
    }
    stopping = true;
    if (drain) return drain(signal);
    log.info('shutting down during start-up', { signal });
    abortStart(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => onSignal(signal));
  // SIGHUP reloads the configuration files (a service manager's reload, such as systemd's
  // `ExecReload=kill -HUP $MAINPID`): kgateway applies a changed manifest without a restart, and
  // so does jwtgate. Never the default (exit): a terminal closing does not stop the gateway.
  // SIGUSR1, which makes Envoy reopen its access logs, is caught too: Node's default for it opens
  // the inspector on 127.0.0.1:9229, which lets anything on the machine run code in the gateway.
  process.on('SIGHUP', () => {
    if (stopping) return log.warn('caught and ignored SIGHUP: the gateway is stopping', { signal: 'SIGHUP' });
    if (!gateway) return log.warn('caught and ignored SIGHUP: the gateway is still starting; send it again once it is ready', { signal: 'SIGHUP' });
    log.info('reloading the configuration', { signal: 'SIGHUP' });
    void reloadLogged(gateway, log);
  });
  process.on('SIGUSR1', () => log.warn('caught and ignored SIGUSR1: jwtgate logs to stderr, it has no log file to reopen', { signal: 'SIGUSR1' }));

  let echoServer: { port: number; close(): Promise<void> } | undefined;
  if (echo) {
    echoServer = await startEchoUpstream({ host: echo.host, port: echo.port });
    log.info('echo upstream listening', { host: echo.host, port: echoServer.port });
  }
  // The admin endpoint comes up first: /healthz answers while the gateway starts (a start-up that
  // waits for a remote JWKS can take seconds), /ready answers 503 until it is ready.
  let adminServer: AdminServer | undefined;
  if (admin) {
    try {
      adminServer = await startAdmin(() => gateway, admin.host, admin.port);
    } catch (err) {
      await echoServer?.close();
      throw err;
    }
    log.info('admin listening', { host: admin.host, port: adminServer.port });
    // /config_dump and /metrics describe the whole configuration, with no authentication.
    if (!isLoopback(admin.host)) log.warn('the admin endpoint listens beyond this machine: anyone who can reach it reads /config_dump and /metrics (bind it to 127.0.0.1, or restrict access to its port)', { host: admin.host });
  }
  // Before the start reads the files: a change while it does is seen by the first look.
  const watched = watchConfigMs > 0 ? await configFingerprint(values.config) : '';
  let start: { gateway: Gateway } | { signal: string };
  try {
    const starting = Gateway.start({
      configPaths: values.config,
      // `[::1]` is accepted as `::1` (the brackets of a URL or of `--admin [::1]:9901`).
      host: values.host?.replace(/^\[(.*)\]$/, '$1'),
      portOverrides,
      clusterDomain: values['cluster-domain'],
      globalPolicyNamespace,
      verifyThreads,
      verifyMode: mode,
      maxRequestHeadersBytes,
      upstreamTimeoutMs,
      upstreamMaxConnections,
      upstreamMaxPending,
      maxRequestBodyBytes,
      jwksRefetchCooldownMs,
      strict: values.strict,
      accessLog: values['access-log'],
      logger: log,
      ...(values['access-log'] ? { accessLogger: createLogger('info') } : {}),
    });
    start = await Promise.race([starting.then((g) => ({ gateway: g })), aborted]);
    // A start that finishes after the signal is stopped (the process exits anyway).
    if ('signal' in start) starting.then((g) => g.stop(0), () => {});
  } catch (err) {
    await adminServer?.close();
    await echoServer?.close();
    throw err;
  }
  if ('signal' in start) {
    await adminServer?.close();
    await echoServer?.close();
    return 0;
  }
  gateway = start.gateway;
  const started = gateway;
  for (const from of portOverrides.keys()) {
    if (!started.snapshot.ports.has(from)) log.warn('--port-map names a port no served Gateway listener has', { listenerPort: from });
  }
  // An echo upstream no Backend points at: its requests go elsewhere (a moved `npm start` left the
  // Backend on 18000 and every proxied request got 503).
  if (echoServer) {
    const port = echoServer.port;
    const used = [...started.snapshot.backends.values()].some((b) => b.endpoints.some((e) => e.port === port));
    if (!used) log.warn('--echo-upstream listens on a port no Backend or Service backendRef of the configuration points at: no request reaches it', { port, hint: "set the httpbin Backend's port (config/default/00-gateway.yaml) to this port" });
  }
  if (started.snapshot.ports.size === 0) {
    // Nothing to serve: exiting 0 here would look like a clean stop to a supervisor.
    log.error('no Gateway listener to serve: the configuration has no valid Gateway with an HTTP listener (run `jwtgate check`)');
    await started.stop(0);
    await adminServer?.close();
    await echoServer?.close();
    return 1;
  }
  log.info('jwtgate ready', { listeners: [...started.snapshot.ports.keys()].map((p) => ({ listenerPort: p, port: started.port(p) })) });
  if (watchConfigMs > 0) watchConfig(values.config, watched, watchConfigMs, started, log, () => stopping);

  return new Promise<number>((resolve) => {
    drain = (signal: string) => {
      log.info('shutting down', { signal });
      void (async () => {
        await started.stop();
        await adminServer?.close();
        await echoServer?.close();
        resolve(0);
      })();
    };
  });
}

/** A reload asked for by a signal or the watch: the reload logs its outcome; a bug in it is logged, never thrown (it would take the process down). */
async function reloadLogged(gateway: Gateway, log: Logger): Promise<void> {
  await gateway.reload().catch((err: unknown) => log.error('configuration reload failed unexpectedly', { err: String(err), stack: (err as Error)?.stack }));
}

/** --watch-config-ms below this is refused: each look walks the folders and stats every file. */
const MIN_WATCH_MS = 100;
/** After this many looks in a row that found the files changed again, one warning. */
const UNSETTLED_LOOKS_WARNING = 20;

/**
 * --watch-config-ms: every `everyMs`, the files' fingerprint (configFingerprint: names, inodes,
 * sizes, times; never the contents). A change is reloaded once two looks in a row agree on it,
 * so a file still being written is not read half-way (a ConfigMap mount's swap is atomic and
 * takes one more look). A reload that fails is not retried until the files change again.
 */
function watchConfig(paths: string[], initial: string, everyMs: number, gateway: Gateway, log: Logger, stopping: () => boolean): void {
  let applied = initial;
  let seen = initial;
  /** Looks in a row that found the files changed again: a file rewritten at every look never settles. */
  let unsettled = 0;
  const look = async (): Promise<void> => {
    if (stopping()) return;
    const now = await configFingerprint(paths).catch(() => seen);
    if (now === seen) {
      unsettled = 0;
      if (now !== applied) {
        applied = now;
        log.info('configuration files changed: reloading', { watchConfigMs: everyMs });
        await reloadLogged(gateway, log);
      }
    } else if (++unsettled === UNSETTLED_LOOKS_WARNING) {
      log.warn('configuration files change at every look: no reload until two looks in a row find them the same (is something rewriting them?)', { looks: unsettled, watchConfigMs: everyMs });
    }
    seen = now;
    if (!stopping()) setTimeout(() => void look(), everyMs).unref();
  };
  setTimeout(() => void look(), everyMs).unref();
}

async function check(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', multiple: true },
      'cluster-domain': { type: 'string' },
      'global-policy-namespace': { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!values.config?.length) throw new UsageError('check needs at least one --config PATH');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output must be text or json, got "${output}"`);
  const globalPolicyNamespace = namespaceFlag(values['global-policy-namespace']);
  clusterDomainFlag(values['cluster-domain']);
  let report: { statuses: Snapshot['statuses']; problems: readonly ConfigProblem[] };
  try {
    const snapshot = await compileFiles(values.config, { generation: 1, clusterDomain: values['cluster-domain'], globalPolicyNamespace });
    // What serve refuses after compiling (an empty folder, a ConfigMap mounted empty, only the
    // policies): check says so too, so a CI gate on check does not pass it.
    const none: ConfigProblem[] = snapshot.ports.size === 0 ? [{ resource: '(configuration)', path: '', message: 'no Gateway listener to serve: the configuration has no valid Gateway with an HTTP listener (serve exits 1)', severity: 'error' }] : [];
    report = { statuses: snapshot.statuses, problems: [...snapshot.problems, ...none] };
  } catch (err) {
    // A configuration refused whole (the route-entry limit) is still a report: JSON readers get JSON.
    if (!(err instanceof ConfigError)) throw err;
    report = { statuses: [], problems: err.problems };
  }
  const problems = report.problems;
  if (output === 'json') process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatCheckReport(report));
  return problems.some((p) => p.severity === 'error') ? 1 : 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** How long the exit waits for stderr's reader to take the lines still queued (up to 8 MiB). */
const STDERR_FLUSH_AT_EXIT_MS = 5_000;

export async function main(argv: string[]): Promise<number> {
  absorbStdioErrors();
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'check':
        return await check(rest);
      case 'version':
      case '--version':
        process.stdout.write(version() + '\n');
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`jwtgate: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`jwtgate: ${err.message}\n`);
      return 1;
    }
    if (err instanceof UwsLoadError || err instanceof StartupError) {
      process.stderr.write(`jwtgate: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`jwtgate: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Worker threads and sockets are closed by stop(); exit explicitly so nothing lingers, once
  // what was written to stdout and stderr is flushed (a pipe is written asynchronously: exiting
  // at once cut a long `check` report at 64 KiB). stderr's flush is waited for at most
  // STDERR_FLUSH_AT_EXIT_MS: a reader that stopped reading (a stalled log shipper) never takes
  // the backlog, and a drained gateway then never exited (SIGTERM hung until SIGKILL).
  process.stdout.write('', () => {
    setTimeout(() => process.exit(code), STDERR_FLUSH_AT_EXIT_MS);
    process.stderr.write('', () => process.exit(code));
  });
});
