// Builds the running gateway and is the one place that wires the parts together: config files ->
// compiled snapshot -> key sets published to the verify workers -> one uWS listener per port ->
// per request: route -> JWT -> proxy. The snapshot is swapped by reference (`this.snap`), so a
// request always sees one consistent configuration.

import { stat } from 'node:fs/promises';
import { ConfigError, ERRORS, StartupError, type ConfigProblem, type ErrorCode } from './errors.js';
import type { CompiledRoute, RouteDirectResponse, ImportedKey, JwtExtension, KeySetSource, PortTable, RemoteKeySet, Snapshot } from './config/snapshot.js';
import type { LastReload, RemoteKeySetState } from './config/dump.js';
import { compileFiles } from './config/build.js';
import { pickBackend, pickListener, selectRoute } from './routing/match.js';
import { normalizePath } from './http/path-normalize.js';
import { HttpServer } from './http/server.js';
import { sendError } from './http/error-response.js';
import type { ClientExchange, GatewayRequest } from './http/exchange.js';
import { Verifier } from './auth/verifier.js';
import { ResultCache } from './auth/result-cache.js';
import { endRegexLoad, rbacAllows, startRegexLoad } from './auth/rbac.js';
import { apiKeyDenial } from './auth/api-key-auth.js';
import { basicAuthDenial } from './auth/basic-auth.js';
import { csrfDenies } from './auth/csrf.js';
import { rateLimitAllows } from './routing/local-rate-limit.js';
import { corsRequest } from './proxy/cors.js';
import { Authenticator, type AuthOutcome, type KeySetRef } from './auth/authenticator.js';
import { applyAllowed, ExtAuthClient, extAuthOrder, type ExtAuthEntry, type ExtAuthProvider, type ExtAuthResult } from './auth/ext-authz.js';
import { Forwarder, type ProxyOutcome } from './proxy/forwarder.js';
import { localConnectFailure } from './proxy/upstream-errors.js';
import { applyEdgeHeaders, nodeAddress, PRE_ROUTE_HEADERS } from './proxy/header-rules.js';
import { applyHeaderOps, type HeaderOp, type RouteHeaderMutation } from './proxy/header-mutation.js';
import { renderBody } from './proxy/body-format.js';
import { redirectLocation, rewrittenPath, type RouteRedirect, type RouteRewrite } from './proxy/redirect.js';
import { removeHeader } from './http/exchange.js';
import { CONTROL_CHAR } from './http/field-value.js';
import { Metrics, renderConfigGeneration, renderKeySetMetrics, renderRefresherRestarts } from './observability/metrics.js';
import { silentLogger, ThrottledWarning, type Logger } from './observability/log.js';
import { JwksRefresher } from './jwks/refresher.js';
import { sourceKey } from './jwks/refresh-scheduler.js';
import { cutText } from './util/text.js';

/** A drain ends once nothing has been in flight and no request has arrived for this long (or at its deadline). */
const DRAIN_QUIET_MS = 1000;

export interface GatewayOptions {
  /** Manifest files or folders. */
  configPaths: string[];
  /** Bind address of every listener (default `0.0.0.0`). */
  host?: string;
  /** Gateway listener port -> port actually bound (tests use 0). */
  portOverrides?: ReadonlyMap<number, number>;
  /** Domain for `Service` backends: `NAME.NAMESPACE.svc.<clusterDomain>` (default `cluster.local`). */
  clusterDomain?: string;
  /** kgateway's global policy namespace (KGW_GLOBAL_POLICY_NAMESPACE): its TrafficPolicies' targetSelectors reach every namespace. */
  globalPolicyNamespace?: string;
  /** Verify worker threads (default: available cores). */
  verifyThreads?: number;
  /** Where signatures are checked: worker pool, main thread, or auto (default). */
  verifyMode?: 'pool' | 'inline' | 'auto';
  /** Request header bytes above which requests get 431 (default 60 KiB, Envoy's default). */
  maxRequestHeadersBytes?: number;
  /** Upstream response timeout (default 15000 ms, Envoy's route timeout default). */
  upstreamTimeoutMs?: number;
  /** Upstream connections per endpoint (default 128). */
  upstreamMaxConnections?: number;
  /** Requests per endpoint that may wait for a connection before the next gets 503 UPSTREAM_OVERFLOW (default 1024, Envoy's max_pending_requests). */
  upstreamMaxPending?: number;
  /** 413 REQUEST_BODY_TOO_LARGE for a request body over this many bytes; 0 or unset: no limit (Envoy streams bodies without one). */
  maxRequestBodyBytes?: number;
  /** Refuse to start when any resource has an error (default: serve the valid parts, as kgateway). */
  strict?: boolean;
  /** Log one line per request (default false). */
  accessLog?: boolean;
  logger?: Logger;
  /**
   * Where access-log lines go (default: `logger`). The CLI gives it a logger of its own at level
   * info, so `--log-level warn` does not silence the access log it was asked for.
   */
  accessLogger?: Logger;
  /** Clock for claim checks (seconds); tests inject it. */
  nowSeconds?: () => number;
  /**
   * Remote JWKS: minimum time between two early refetches of one key set caused by a token
   * whose kid is not in it (default 30000 ms; jwtgate only, Envoy never refetches on a kid miss).
   * 0: none, as Envoy.
   */
  jwksRefetchCooldownMs?: number;
  /** Remote JWKS fetch deadline, retries included (default 5000 ms, Envoy's hard-coded value; tests shorten it). */
  jwksFetchTimeoutMs?: number;
  /** A verify pool without progress for this long while checks wait has its tasks answered 503 overloaded and is replaced (default 5000 ms; tests shorten it). */
  verifyTaskTimeoutMs?: number;
  /** 431s are logged at most once per this many ms, with a count of the others (default 10000; tests shorten it). */
  oversizeLogWindowMs?: number;
}

/** Gateway.start (and a reload) waits at most this long for the first fetch of non-fastListener remote key sets. */
const FIRST_FETCH_WAIT_MS = 15_000;
const STOPPING = 'the gateway is stopping';
/** A listener a reload removed closes its connections after this long at most (requests still in flight then are cut). */
const RETIRED_DRAIN_MS = 60_000;
/** Key sets a reload removed stay this long after the last listener that could use them closed, for its requests still being checked. */
const KEY_SET_LINGER_MS = 10_000;

/** What a reload did: applied (`ok`, the new generation) or not (the running generation, and why). */
export type ReloadResult =
  | { readonly ok: true; readonly generation: number; readonly problems: readonly ConfigProblem[]; readonly listenersAdded: readonly number[]; readonly listenersRemoved: readonly number[] }
  | { readonly ok: false; readonly generation: number; readonly reason: string; readonly problems: readonly ConfigProblem[] };

const PROBLEM_LOG_LIMIT = 200;
const LOCAL_FAILURE_MSG = 'upstream connect failed on this host (out of a local resource), not at the upstream';
const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export class Gateway {
  readonly metrics = new Metrics();
  private snap!: Snapshot;
  /** Ports of the snapshot with a route matching on headers or query parameters (re-matched after auth). */
  private rematchPorts: ReadonlySet<number> = new Set();
  /** Ports whose routes match on a header Envoy's connection manager sets or checks before routing (PRE_ROUTE_HEADERS). */
  private edgePorts: ReadonlySet<number> = new Set();
  private readonly opts: GatewayOptions;
  private readonly log: Logger;
  private readonly accessLog: Logger | undefined;
  /** 431s: clients choose how often they happen, so one line per 10 s at most, with a count. */
  private readonly oversizeLog: ThrottledWarning;
  /** Upstream connects this host could not make (out of fds, ports, socket memory): every request fails the same way, so one line per 10 s with a count. */
  private readonly localFailureLog: ThrottledWarning;
  /** Address every listener binds. */
  private readonly host: string;
  private readonly http: HttpServer;
  private readonly verifier: Verifier;
  private readonly cache: ResultCache;
  private readonly auth: Authenticator;
  private readonly forwarder: Forwarder;
  /** The TrafficPolicy extAuth checks' connections to their servers. */
  private readonly extAuth = new ExtAuthClient();
  /**
   * Every key set of the running snapshot with the generation published to the verifier (0: a
   * remote set with no keys yet). What the authenticator reads per token, so lookups don't allocate.
   */
  private keySetRefs = new Map<string, KeySetRef>();
  /**
   * One counter for every key set, only ever increasing: a key set dropped and later re-added
   * never reuses a generation, so no cached signature result can match the wrong keys.
   */
  private lastGeneration = 0;
  private refresher: JwksRefresher | undefined;
  /** The keys last published for each remote key set (for /config_dump and /metrics). */
  private readonly remoteKeys = new Map<string, readonly ImportedKey[]>();
  private listening = false;
  /** Requests waiting for an asynchronous JWT check (stop() drains them). */
  private authPending = 0;
  private stopped = false;
  /** Set when stop() closes the connections: key sets fetched later are not published. */
  private keySetsClosed = false;
  /** stop() cut requests still in flight at the end of the drain: they end as DRAIN_CLOSED. */
  private drainCut = false;
  /**
   * A reload's warm-up: the remote key sets it fetches before the swap, under staging ids (staging
   * id -> key set id), so the running configuration's key sets of the same id are not touched; and
   * the keys fetched so far (key set id -> keys), published at the swap.
   */
  private readonly stagingIds = new Map<string, string>();
  private readonly stagedKeys = new Map<string, readonly ImportedKey[]>();
  /**
   * Listeners a reload removed, by Gateway listener port, while their connections drain: the table
   * their requests are routed by, and how many drain (a port removed, added back and removed again
   * can have two; requests carry only the port, so both route by the newer table).
   */
  private readonly retired = new Map<number, { table: PortTable; listeners: number }>();
  /** The reload running, and whether another was asked for meanwhile (SIGHUP twice: one more after it). */
  private reloading: Promise<ReloadResult> | undefined;
  private reloadQueued: Promise<ReloadResult> | undefined;

  private constructor(opts: GatewayOptions) {
    this.opts = opts;
    this.log = opts.logger ?? silentLogger;
    this.accessLog = opts.accessLog ? (opts.accessLogger ?? this.log) : undefined;
    this.localFailureLog = new ThrottledWarning(this.log, LOCAL_FAILURE_MSG, 10_000);
    this.host = opts.host ?? '0.0.0.0';
    this.verifier = new Verifier({ threads: opts.verifyThreads, mode: opts.verifyMode, metrics: this.metrics, log: this.log, taskTimeoutMs: opts.verifyTaskTimeoutMs });
    this.cache = new ResultCache();
    this.auth = new Authenticator({
      verifier: this.verifier,
      cache: this.cache,
      nowSeconds: opts.nowSeconds,
      keySet: (id: string) => this.keySetFor(id),
      metrics: this.metrics,
      ...(opts.jwksRefetchCooldownMs === 0 ? {} : { refetchKeySet: (id: string) => this.refresher?.refetch(id) ?? Promise.resolve(false) }),
    });
    this.forwarder = new Forwarder({
      timeoutMs: opts.upstreamTimeoutMs,
      connections: opts.upstreamMaxConnections,
      maxPending: opts.upstreamMaxPending,
      maxRequestBodyBytes: opts.maxRequestBodyBytes,
      onRetry: (e) => this.metrics.inc('jwtgate_upstream_retries_total', e),
      onMirror: (r) => this.metrics.inc('jwtgate_upstream_mirrors_total', r),
    });
    // Found once, now, as Envoy finds its node address at start: reading the interfaces needs a
    // socket, which a request at the fd limit could not get.
    nodeAddress();
    const maxRequestHeadersBytes = opts.maxRequestHeadersBytes ?? 60 * 1024;
    this.oversizeLog = new ThrottledWarning(this.log, 'request headers too large', opts.oversizeLogWindowMs ?? 10_000);
    this.http = new HttpServer(
      { host: this.host, maxRequestHeadersBytes },
      (port, req, ex) => this.handle(port, req, ex),
      (_port, ex, bytes, method, host, path) => {
        sendError(ex, 'REQUEST_HEADERS_TOO_LARGE');
        this.metrics.inc('jwtgate_requests_total', 'REQUEST_HEADERS_TOO_LARGE');
        const durationMs = performance.now() - ex.startedAt;
        this.metrics.requestDuration.observe(durationMs);
        this.oversizeLog.note({ bytes, limit: maxRequestHeadersBytes });
        // The path may be what made the head too large: the access log keeps its start.
        this.accessLog?.info('request', { method, host: logHost(host), path: logPath(path), status: ERRORS.REQUEST_HEADERS_TOO_LARGE.status, result: 'REQUEST_HEADERS_TOO_LARGE', durationMs: logMs(durationMs) });
      },
    );
  }

  /** Loads and compiles the config, publishes key sets, binds every listener. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    // The verify workers start while the configuration compiles; one that cannot start stops the start.
    const workersReady = gw.verifier.ready();
    workersReady.catch(() => {});
    try {
      const snapshot = await compileFiles(opts.configPaths, { generation: 1, clusterDomain: opts.clusterDomain, globalPolicyNamespace: opts.globalPolicyNamespace }, { loadErrorsFatal: true });
      gw.reportProblems(snapshot.problems);
      if (opts.strict && snapshot.problems.some((p) => p.severity === 'error')) {
        throw new ConfigError(snapshot.problems.filter((p) => p.severity === 'error'), 'configuration has errors and --strict is set');
      }
      gw.install(snapshot);
      // Envoy's listener warm-up (spec §4.9): without fastListener, the listener waits for the
      // first fetch of each remote key set, success or failure.
      const warmUp = [...snapshot.keySets.values()].filter((ks) => ks.kind === 'remote' && !ks.fastListener && ks.target).map((ks) => ks.id);
      if (warmUp.length > 0 && gw.refresher && !(await gw.refresher.firstAttempts(warmUp, FIRST_FETCH_WAIT_MS))) {
        gw.log.warn('remote JWKS: first fetch still not done; listening anyway', { waitedMs: FIRST_FETCH_WAIT_MS, keySets: warmUp.filter((id) => !gw.refresher!.attempted(id)) });
      }
      await workersReady;
      for (const port of snapshot.ports.keys()) {
        const bind = opts.portOverrides?.get(port) ?? port;
        const bound = await gw.http.listen(port, bind);
        gw.log.info('listening', { listenerPort: port, port: bound, host: gw.host });
      }
      gw.listening = true;
      return gw;
    } catch (err) {
      await gw.stop(0);
      throw err;
    }
  }

  get snapshot(): Snapshot {
    return this.snap;
  }

  /** True once every listener is bound and every key set is loaded. */
  get ready(): boolean {
    if (!this.listening || this.stopped) return false;
    for (const ks of this.snap.keySets.values()) if (ks.kind === 'remote' && !ks.fastListener && ks.target && !this.refresher?.attempted(ks.id)) return false;
    return true;
  }

  /** Bound port for a Gateway listener port. */
  port(listenerPort: number): number {
    const p = this.http.boundPort(listenerPort);
    if (p === undefined) throw new Error(`no listener on port ${listenerPort}`);
    return p;
  }

  /**
   * Stops accepting connections and drains: every answer from now on says `Connection: close`
   * (Envoy's drain), and the connections are closed once nothing has been in flight (in an
   * asynchronous JWT check or at the upstream) and no request has arrived for DRAIN_QUIET_MS, or
   * when `drainMs` has passed. Stopping at the first moment nothing was in flight lost the
   * requests keep-alive clients had already sent (one per busy connection). Key sets fetched
   * meanwhile are still used. Then the workers stop.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.http.stopAccepting();
    const start = Date.now();
    const busy = () => this.authPending > 0 || this.bodyReads > 0 || this.forwarder.inFlight > 0 || this.http.lingering > 0;
    await quietOrDeadline(() => this.http.requestsSeen, busy, Math.min(DRAIN_QUIET_MS, drainMs), drainMs, 20);
    const cut = this.authPending + this.bodyReads + this.forwarder.inFlight;
    if (cut > 0) {
      // Their exchanges end as DRAIN_CLOSED, not as clients that left.
      this.drainCut = true;
      this.log.warn('drain period over: closing connections with requests in flight', { requests: cut, drainMs });
    }
    this.keySetsClosed = true;
    this.http.close();
    await Promise.allSettled([this.forwarder.close(), this.verifier.close(), this.refresher?.close(), this.extAuth.close()]);
    this.oversizeLog.flush();
    this.localFailureLog.flush();
    this.log.info('stopped', { drainedMs: Date.now() - start });
  }

  /**
   * Reads the configuration files again and, if they load, applies them without dropping a
   * request: the new snapshot replaces the old by reference, so a request sees one or the other.
   * As Envoy applies an xDS update: the new configuration's remote key sets that are new or come
   * from a changed source are fetched first under staging ids, unless their provider sets
   * fastListener (the listener warm-up; the old configuration and its key sets serve meanwhile,
   * up to 15 s); new listener ports are bound; then the swap. Listeners the new configuration
   * drops stop accepting, and their open connections drain (answers say `Connection: close`) until
   * quiet, for up to 60 s. Unchanged local key sets keep their cached signature results;
   * remote key sets from an unchanged source keep their keys and schedule.
   *
   * The running configuration stays, and the result says why, when the files do not load (a YAML
   * or read error), when `strict` is set and a resource has an error, when no listener would be
   * left, or when a new port cannot be bound. Otherwise the new configuration is served with its
   * problems reported, as at start. A reload asked for while one runs runs once after it (asked
   * for several times meanwhile, once).
   */
  reload(): Promise<ReloadResult> {
    if (!this.reloading) {
      this.reloading = this.reloadOnce().finally(() => (this.reloading = undefined));
      return this.reloading;
    }
    const next = (): Promise<ReloadResult> => {
      this.reloadQueued = undefined;
      return this.reload();
    };
    this.reloadQueued ??= this.reloading.then(next, next);
    return this.reloadQueued;
  }

  /** The last reload's outcome, for /config_dump (undefined before the first). */
  get lastReload(): LastReload | undefined {
    return this.lastReloadState;
  }

  private lastReloadState: LastReload | undefined;

  private noteReload(r: ReloadResult): ReloadResult {
    const errors = r.problems.filter((p) => p.severity === 'error').length;
    this.lastReloadState = { at: new Date().toISOString(), ok: r.ok, generation: r.generation, ...(r.ok ? {} : { reason: r.reason }), errors, warnings: r.problems.length - errors };
    return r;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const started = performance.now();
    const fail = (reason: string, problems: readonly ConfigProblem[] = []): ReloadResult => {
      this.metrics.inc('jwtgate_config_reloads_total', 'failed');
      const text = `configuration reload failed, still serving generation ${this.snap.generation}: ${reason}`;
      // A stop that overtook the reload is not a configuration problem.
      if (reason === STOPPING) this.log.warn(text, { generation: this.snap.generation });
      else this.log.error(text, { generation: this.snap.generation });
      return this.noteReload({ ok: false, generation: this.snap.generation, reason, problems });
    };
    if (this.stopped) return fail(STOPPING);
    // A pipe or device (`--config /dev/stdin`) was read to its end at start: reading it again
    // would find nothing, or wait for a terminal's input.
    for (const p of this.opts.configPaths) {
      const st = await stat(p).catch(() => undefined);
      if (st && !st.isFile() && !st.isDirectory()) return fail(`${p} is not a regular file or folder (a pipe or device): it cannot be read again; restart the gateway to change its configuration`);
    }
    const generation = this.snap.generation + 1;
    let snapshot: Snapshot;
    startRegexLoad();
    let applied = false;
    try {
      try {
        snapshot = await compileFiles(
          this.opts.configPaths,
          { generation, clusterDomain: this.opts.clusterDomain, globalPolicyNamespace: this.opts.globalPolicyNamespace, previousRateLimitBuckets: this.snap.rateLimitBuckets },
          // Off the main thread: the YAML parse of a large configuration held every request up.
          { loadErrorsFatal: true, offThread: { onFallback: (reason) => this.log.warn('configuration reload: the files could not be read on a thread of their own; reading them on the main thread', { reason }) } },
        );
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.reportProblems(err.problems);
        const n = err.problems.length;
        return fail(`cannot load configuration (${n} problem${n === 1 ? '' : 's'}, logged above)`, err.problems);
      }
      const r = await this.apply(snapshot, fail, started);
      applied = r.ok;
      return r;
    } finally {
      endRegexLoad(applied);
    }
  }

  /** The second half of a reload: `snapshot` compiled. */
  private async apply(snapshot: Snapshot, fail: (reason: string, problems?: readonly ConfigProblem[]) => ReloadResult, started: number): Promise<ReloadResult> {
    const generation = snapshot.generation;
    if (this.stopped) return fail(STOPPING);
    const errors = snapshot.problems.filter((p) => p.severity === 'error');
    if (this.opts.strict && errors.length > 0) {
      this.reportProblems(errors);
      return fail(`the configuration has ${errors.length} error${errors.length === 1 ? '' : 's'} and --strict is set`, errors);
    }
    if (snapshot.ports.size === 0) {
      this.reportProblems(snapshot.problems);
      return fail('no Gateway listener to serve: the configuration has no valid Gateway with an HTTP listener (run `jwtgate check`)', snapshot.problems);
    }

    // Warm-up: the remote key sets the new configuration adds, or fetches from elsewhere, fetched
    // under staging ids while the running configuration's go on as they are.
    const before = this.snap;
    const remoteOf = (snap: Snapshot) => [...snap.keySets.values()].filter((ks): ks is RemoteKeySet => ks.kind === 'remote');
    const oldRemote = remoteOf(before);
    const staging: RemoteKeySet[] = [];
    for (const ks of remoteOf(snapshot)) {
      if (ks.fastListener || !ks.target || sameRemoteSource(this.previousSource(ks.id), ks)) continue;
      const id = `reload-${snapshot.generation}:${ks.id}`;
      this.stagingIds.set(id, ks.id);
      staging.push({ ...ks, id });
    }
    const added: number[] = [];
    try {
      if (staging.length > 0) {
        this.installRemote([...oldRemote, ...staging]);
        if (!(await this.refresher!.firstAttempts(staging.map((ks) => ks.id), FIRST_FETCH_WAIT_MS)) && !this.stopped) {
          this.log.warn('remote JWKS: first fetch still not done; applying the configuration anyway', { waitedMs: FIRST_FETCH_WAIT_MS, keySets: staging.filter((ks) => !this.refresher!.attempted(ks.id)).map((ks) => this.stagingIds.get(ks.id)) });
        }
      }
      if (this.stopped) throw new StartupError(STOPPING);
      for (const port of snapshot.ports.keys()) {
        if (before.ports.has(port) && this.http.boundPort(port) !== undefined) continue;
        const bind = this.opts.portOverrides?.get(port) ?? port;
        // A port a reload removed may still be draining: its listen socket is closed, so the new
        // listener binds, and its open connections finish on the new routes.
        const bound = await this.http.listen(port, bind);
        added.push(port);
        this.log.info('listening', { listenerPort: port, port: bound, host: this.host });
      }
      if (this.stopped) throw new StartupError(STOPPING);
    } catch (err) {
      // Nothing changed: the new listeners close, and the refresher forgets the staging key sets.
      for (const port of added) this.http.retire(port)?.close();
      if (staging.length > 0) this.refresher?.configure(oldRemote);
      this.stagingIds.clear();
      this.stagedKeys.clear();
      if (err instanceof StartupError) return fail(this.stopped ? STOPPING : err.message);
      throw err;
    }

    // The swap.
    const removed = [...before.ports.keys()].filter((p) => !snapshot.ports.has(p));
    for (const port of removed) this.retirePort(port, before.ports.get(port)!);
    this.install(snapshot);
    this.reportProblems(snapshot.problems);
    void this.forwarder.retainOnly(snapshot.backends.values()).catch(() => {});
    this.metrics.inc('jwtgate_config_reloads_total', 'ok');
    const warnings = snapshot.problems.length - errors.length;
    this.log.info('configuration reloaded', {
      generation,
      errors: errors.length,
      warnings,
      ...(added.length > 0 ? { listenersAdded: added } : {}),
      ...(removed.length > 0 ? { listenersRemoved: removed } : {}),
      durationMs: logMs(performance.now() - started),
    });
    return this.noteReload({ ok: true, generation, problems: snapshot.problems, listenersAdded: added, listenersRemoved: removed });
  }

  /**
   * A listener the new configuration does not have: stops accepting; its open connections keep
   * being served by `table` with `Connection: close`, and close once none of its requests has
   * been in flight and none has arrived for DRAIN_QUIET_MS, or after RETIRED_DRAIN_MS.
   */
  private retirePort(port: number, table: PortTable): void {
    const handle = this.http.retire(port);
    if (!handle) return;
    this.retired.set(port, { table, listeners: (this.retired.get(port)?.listeners ?? 0) + 1 });
    const close = (): void => {
      handle.close();
      const r = this.retired.get(port)!;
      if (--r.listeners === 0) this.retired.delete(port);
      // The key sets only removed listeners still used go KEY_SET_LINGER_MS after the last closes.
      if (this.retired.size === 0 && this.lingeringRefs.size > 0) this.dropLingeringLater();
    };
    void quietOrDeadline(handle.requestsSeen, () => handle.active() > 0 || handle.lingering() > 0, DRAIN_QUIET_MS, RETIRED_DRAIN_MS, 50, true).then(close);
    this.log.info('listener removed: draining its connections', { listenerPort: port });
  }

  private install(snapshot: Snapshot): void {
    // Backend host names are looked up now, before the first request (Envoy's STRICT_DNS).
    this.forwarder.prepare(snapshot.backends.values());
    const refs = new Map<string, KeySetRef>();
    const remote: RemoteKeySet[] = [];
    const dropped: string[] = [];
    const staged = new Map([...this.stagingIds].map(([stagingId, id]) => [id, stagingId]));
    for (const ks of snapshot.keySets.values()) {
      const prev = this.keySetRefs.get(ks.id) ?? this.lingeringRefs.get(ks.id);
      this.lingeringRefs.delete(ks.id);
      if (ks.kind === 'remote') {
        remote.push(ks);
        const stagingId = staged.get(ks.id);
        if (stagingId !== undefined) {
          // Fetched by the warm-up: those keys (none if the fetch failed or is still running).
          this.refresher?.adopt(stagingId, ks.id);
          const keys = this.stagedKeys.get(ks.id);
          if (keys) {
            const generation = ++this.lastGeneration;
            this.verifier.publishKeySet(ks.id, generation, keys);
            this.remoteKeys.set(ks.id, keys);
            refs.set(ks.id, { source: ks, generation });
            continue;
          }
        } else if (prev && sameRemoteSource(prev.source, ks)) {
          // The same source: its keys and schedule go on.
          refs.set(ks.id, { source: ks, generation: prev.generation });
          continue;
        }
        // No keys yet: a new source (fastListener), or a warm-up fetch that has not succeeded.
        // What the id had before (another source's keys, a local set) is not this source's.
        if (prev) dropped.push(ks.id);
        refs.set(ks.id, { source: ks, generation: 0 });
        continue;
      }
      // A reload that leaves a local key set as it was keeps its generation, so the signature
      // results cached for it stay valid.
      if (prev?.source.kind === 'local' && sameKeys(prev.source.keys, ks.keys)) {
        refs.set(ks.id, { source: ks, generation: prev.generation });
        continue;
      }
      const generation = ++this.lastGeneration;
      this.verifier.publishKeySet(ks.id, generation, ks.keys);
      refs.set(ks.id, { source: ks, generation });
    }
    // Key sets the new configuration does not have stay usable a while by the requests routed by
    // the old one (still being checked, or on a removed listener's connections), then go.
    const gone: string[] = [];
    for (const [id, ref] of this.keySetRefs) {
      if (refs.has(id)) continue;
      gone.push(id);
      this.lingeringRefs.set(id, ref);
    }
    this.stagingIds.clear();
    this.stagedKeys.clear();
    for (const id of [...dropped, ...gone]) this.remoteKeys.delete(id);
    if (dropped.length) this.verifier.dropKeySets(dropped);
    if (gone.length) this.dropLingeringLater();
    this.keySetRefs = refs;
    const tables = [...snapshot.ports.values(), ...[...this.retired.values()].map((r) => r.table)];
    this.rematchPorts = new Set(tables.filter(matchesOnHeadersOrQuery).map((t) => t.port));
    this.edgePorts = new Set(tables.filter(matchesOnEdgeHeaders).map((t) => t.port));
    this.snap = snapshot;
    this.installRemote(remote);
    // The connections to authorization servers no route asks any more are closed (the checks in
    // flight on them finish first).
    const servers: ExtAuthProvider[] = [];
    for (const t of tables) someRoute(t, (r) => (r.auth.extAuth?.forEach((e) => servers.push(e.provider)), false));
    this.extAuth.retain(servers);
  }

  /** The authorization servers (host:port) the ext auth checks hold connections to. */
  get extAuthServers(): string[] {
    return this.extAuth.servers;
  }

  /** The remote JWKS refresher (undefined while no snapshot has a remote key set). */
  get jwksRefresher(): JwksRefresher | undefined {
    return this.refresher;
  }

  /** Remote key sets go to the refresher thread; their keys come back through this. */
  private installRemote(remote: readonly RemoteKeySet[]): void {
    if (remote.length === 0 && !this.refresher) return;
    this.refresher ??= new JwksRefresher({
      log: this.log,
      metrics: this.metrics,
      onKeySet: (id, keys) => this.publishRemote(id, keys),
      ...(this.opts.jwksRefetchCooldownMs !== undefined ? { kidMissCooldownMs: this.opts.jwksRefetchCooldownMs } : {}),
      ...(this.opts.jwksFetchTimeoutMs !== undefined ? { fetchTimeoutMs: this.opts.jwksFetchTimeoutMs } : {}),
    });
    this.refresher.configure(remote);
  }

  /**
   * A remote key set whose content changed: a new generation for the verifier (and its
   * workers); result-cache entries of older generations stop being honoured.
   */
  private publishRemote(id: string, keys: readonly ImportedKey[]): void {
    // Until the connections close: a request in the drain still gets keys fetched meanwhile.
    if (this.keySetsClosed) return;
    // A reload's warm-up: kept for the swap.
    const staged = this.stagingIds.get(id);
    if (staged !== undefined) return void this.stagedKeys.set(staged, keys);
    const source = this.snap?.keySets.get(id);
    if (source?.kind !== 'remote') return;
    const generation = ++this.lastGeneration;
    this.verifier.publishKeySet(id, generation, keys);
    this.keySetRefs.set(id, { source, generation });
    this.remoteKeys.set(id, keys);
  }

  /** What /config_dump shows of a remote key set beyond its configuration: the keys in use and its fetch record. */
  remoteState(id: string): RemoteKeySetState | undefined {
    const stats = this.refresher?.stats(id);
    const keys = this.remoteKeys.get(id);
    if (!stats && !keys) return undefined;
    return {
      ...(keys ? { keys } : {}),
      ...(stats?.lastSuccessMs !== undefined ? { lastSuccessMs: stats.lastSuccessMs } : {}),
      ...(stats?.lastFailure !== undefined ? { lastFailure: stats.lastFailure, lastFailureMs: stats.lastFailureMs } : {}),
      fetches: { ...(stats?.fetches ?? {}) },
      earlyRefetches: stats?.earlyRefetches ?? 0,
    };
  }

  /**
   * /metrics: the counters, then per remote key set (label `provider`, the key set id) its keys
   * in use, the time of its last good fetch and its fetches by outcome, and the refresher
   * thread's restarts. The labels are bounded by the configuration.
   */
  renderMetrics(): string {
    const ids = [...this.snap.keySets.values()].filter((ks) => ks.kind === 'remote').map((ks) => ks.id);
    const sets = ids.map((id) => {
      const stats = this.refresher?.stats(id);
      return { id, keys: this.remoteKeys.get(id)?.length ?? 0, lastSuccessMs: stats?.lastSuccessMs, fetches: stats?.fetches ?? {} };
    });
    // The restarts are shown with or without remote key sets (an alert finds 0, not nothing).
    return (
      this.metrics.render() +
      renderConfigGeneration(this.snap.generation) +
      (sets.length > 0 ? renderKeySetMetrics(sets) : '') +
      renderRefresherRestarts(this.refresher?.restarts ?? 0)
    );
  }

  private keySetFor(id: string): KeySetRef | undefined {
    return this.keySetRefs.get(id) ?? this.lingeringRefs.get(id);
  }

  /** What key set `id` is in the running configuration (a lingering one may go during the warm-up: not counted). */
  private previousSource(id: string): KeySetSource | undefined {
    return this.keySetRefs.get(id)?.source;
  }

  /** Key sets the configuration served no longer has, kept for the requests the previous one routed (see install). */
  private readonly lingeringRefs = new Map<string, KeySetRef>();
  private lingerTimer: NodeJS.Timeout | undefined;

  /** Drops the lingering key sets KEY_SET_LINGER_MS from now, unless a removed listener still drains or a reload runs then. */
  private dropLingeringLater(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      // Re-armed by the last removed listener's close; a reload's install may take them back.
      if (this.retired.size > 0) return;
      if (this.reloading) return this.dropLingeringLater();
      const ids = [...this.lingeringRefs.keys()].filter((id) => !this.keySetRefs.has(id));
      this.lingeringRefs.clear();
      if (ids.length) this.verifier.dropKeySets(ids);
    }, KEY_SET_LINGER_MS);
    this.lingerTimer.unref?.();
  }

  private reportProblems(problems: readonly ConfigProblem[]): void {
    let n = 0;
    for (const p of problems) {
      if (n++ >= PROBLEM_LOG_LIMIT) {
        this.log.warn('more configuration problems not logged; run `jwtgate check` for the full list', { total: problems.length });
        break;
      }
      const fields = { resource: p.resource, path: p.path, source: p.source };
      if (p.severity === 'error') this.log.error(`config: ${p.message}`, fields);
      else this.log.warn(`config: ${p.message}`, fields);
    }
  }

  /** The route for `req`, or the catalogue code to answer with. */
  private route(listenerPort: number, req: GatewayRequest): CompiledRoute | ErrorCode {
    return this.routeIn(this.tableFor(listenerPort), req);
  }

  /** The port's routes; a listener a reload removed serves its open connections by its last table while it drains. */
  private tableFor(listenerPort: number): PortTable | undefined {
    return this.snap.ports.get(listenerPort) ?? this.retired.get(listenerPort)?.table;
  }

  private routeIn(table: PortTable | undefined, req: GatewayRequest): CompiledRoute | ErrorCode {
    const match = table && selectRoute(table, req);
    if (!match) return 'ROUTE_NOT_FOUND';
    if (match.listener.invalid !== undefined) return 'ROUTE_CONFIG_INVALID';
    // An invalid rule (`route.invalid`): its caller answers 500 with the route's response rules.
    return match.route;
  }

  /** Entry point of every request: a bug in the synchronous part answers 500, never crashes the process. */
  private handle(listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    try {
      this.dispatch(listenerPort, req, ex);
    } catch (err) {
      this.log.error('request handling failed unexpectedly', { err: String(err), stack: (err as Error)?.stack });
      if (!ex.done) this.deny(ex, 'INTERNAL', req);
    }
  }

  private dispatch(listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    // A request head the front end found malformed (Host, framing): answered before routing.
    if (req.invalid !== undefined) return this.deny(ex, req.invalid, req);
    // CONNECT (tunnels) is not proxied: undici cannot send it as a plain request.
    if (req.method === 'CONNECT') return this.deny(ex, 'REQUEST_INVALID', req);
    // Envoy's HCM as kgateway configures it: the path is normalized before routing (a `#` in
    // it, or a `%00`, is a 400), and the query may not carry a fragment either.
    const path = normalizePath(req.path);
    if (path === undefined || req.query.includes('#')) return this.deny(ex, 'REQUEST_INVALID', req);
    req.path = path;
    const table = this.tableFor(listenerPort);
    // The listener's early header rules (ListenerPolicy earlyRequestHeaderModifier): Envoy runs
    // them first in mutateRequestHeaders, before its own fields and routing.
    if (table?.earlyHeaderRules === true) {
      const ops = pickListener(table, req.host)?.earlyHeaderOps;
      if (ops !== undefined) applyHeaderOps(req.headers, ops, false, req, ex.startedAt);
    }
    // A route matching on x-forwarded-for & co. (or referer, te) sees Envoy's values, not the client's.
    if (this.edgePorts.size > 0 && this.edgePorts.has(listenerPort)) applyEdgeHeaders(req);
    const route = this.routeIn(table, req);
    if (typeof route === 'string') return this.deny(ex, route, req);
    if (route.invalid !== undefined) return this.deny(ex, 'ROUTE_CONFIG_INVALID', req, route);
    // CORS (Envoy's cors filter, before jwt_authn): a preflight from an allowed origin is answered
    // here; for other requests from one, the headers their answer gets are decided now.
    if (route.cors !== undefined) {
      const cors = corsRequest(route.cors, req);
      if (cors === 'invalid') return this.deny(ex, 'REQUEST_INVALID', req, route);
      if (cors !== undefined) {
        if (cors.preflight !== undefined) {
          ex.respond(200, cors.preflight, '');
          return this.record('CORS_PREFLIGHT', req, ex, 200);
        }
        req.corsOps = cors.ops;
      }
    }
    // kgateway's authentication filters, in its filter order (stage AuthN, by filter name):
    // api_key_auth, basic_auth, then the jwt_authn filters.
    const auth = route.auth;
    if (auth.apiKeyAuth !== undefined) {
      const denied = apiKeyDenial(auth.apiKeyAuth, req);
      if (denied !== undefined) return this.deny(ex, denied, req, route);
      // The client id header is the gateway's: a Connection field naming it does not remove it.
      if (auth.apiKeyAuth.clientIdHeader !== undefined) req.gatewayHeaders = [auth.apiKeyAuth.clientIdHeader];
    }
    if (auth.basicAuth !== undefined) {
      const denied = basicAuthDenial(auth.basicAuth, req.headers);
      if (denied !== undefined) return this.deny(ex, denied, req, route);
    }
    // The ext auth filters (`ext_auth/<ns>/<name>`) come next by name, before the jwt filters.
    if (auth.extAuth !== undefined) return this.runExtAuth(route, auth.extAuth, 0, listenerPort, req, ex);
    this.jwtStage(route, listenerPort, req, ex);
  }

  /** The jwt_authn filters of `route`, then the rest (forward). */
  private jwtStage(route: CompiledRoute, listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    const jwt = route.auth.jwt;
    if (jwt.length === 0) return this.forward(route, req, ex, undefined, route.auth.disabled);
    this.runAuth(route, jwt, NONE_RAN, undefined, listenerPort, req, ex);
  }

  /**
   * The route's ext auth filters from `i` on, one after another (Envoy's ext_authz with an HTTP
   * service): each asks its server; 200 goes on with the server's headers, a denial or an error
   * answers here (an error passes with `failOpen`). With `withRequestBody` the body is read first,
   * up to its limit: over it, 413 (or, with `allowPartialMessage`, its first bytes are sent).
   */
  private runExtAuth(route: CompiledRoute, entries: readonly ExtAuthEntry[], i: number, listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    if (i >= entries.length) return this.jwtStage(route, listenerPort, req, ex);
    const entry = entries[i]!;
    const p = entry.provider;
    // percentageEnabled: Envoy's runtime fraction, drawn per request; the others pass unchecked.
    if (p.percent !== undefined && !(Math.random() * 100 < p.percent)) {
      this.metrics.inc('jwtgate_ext_authz_total', 'skipped');
      return this.runExtAuth(route, entries, i + 1, listenerPort, req, ex);
    }
    const ask = (body?: { bytes: Buffer; partial: boolean }): void => {
      if (ex.done) return this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
      this.authPending++;
      // A client that leaves cancels its check (Envoy's filter cancels the call on destroy).
      const cancel = new AbortController();
      ex.onAbort(() => cancel.abort());
      void this.extAuth.check(p, req, ex.startedAt, body, cancel.signal).then((r) => {
        this.authPending--;
        try {
          this.afterExtAuth(r, route, entries, i, listenerPort, req, ex);
        } catch (err) {
          this.log.error('request handling failed unexpectedly', { err: String(err), stack: (err as Error)?.stack });
          if (!ex.done) this.deny(ex, 'INTERNAL', req);
        }
      });
    };
    const body = entry.body ?? p.body;
    // Envoy buffers only a request with a body (not one whose headers end the stream).
    if (body === undefined || !ex.hasBody) return ask();
    if (ex.done) return this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
    // --max-request-body-bytes bounds what is held too (the gateway's memory is what it protects):
    // a body over it is refused before it is read up to a larger maxRequestBytes.
    const global = this.opts.maxRequestBodyBytes ?? 0;
    const overGlobal = (): void => {
      ex.closeAfterResponse = true;
      this.deny(ex, 'REQUEST_BODY_TOO_LARGE', req, route);
    };
    if (global > 0 && ex.contentLength > global) return overGlobal();
    const capped = global > 0 && global < body.maxBytes;
    if (!body.partial) {
      // Envoy's decoder buffer limit: a larger body is answered 413 and the server never asked.
      const tooLarge = (): void => {
        ex.closeAfterResponse = true;
        this.deny(ex, 'PAYLOAD_TOO_LARGE', req, route);
      };
      if (ex.contentLength > body.maxBytes) return tooLarge();
      const limit = capped ? global : body.maxBytes;
      return this.readBodyFirst(req, ex, (done) => ex.bufferBody(limit, () => done(() => ask({ bytes: ex.heldBody(), partial: false })), () => done(capped ? overGlobal : tooLarge)));
    }
    // allowPartialMessage: the first maxRequestBytes (the whole body when it is no longer); past
    // the global bound, what is held would be refused upstream anyway.
    const limit = capped ? global + 1 : body.maxBytes;
    this.readBodyFirst(req, ex, (done) =>
      ex.peekBody(limit, (first, complete) => done(() => (capped && !(complete && first.length <= global) ? overGlobal() : ask({ bytes: first, partial: !complete })))),
    );
  }

  /**
   * Reads (part of) a body before the request goes on (the buffer filter, an ext auth check's
   * body), counted for the drain: `start` begins the read and calls `done(then)` once, when it is
   * over; a client that leaves meanwhile ends the request instead.
   */
  private readBodyFirst(req: GatewayRequest, ex: ClientExchange, start: (done: (then: () => void) => void) => void): void {
    this.bodyReads++;
    let over = false;
    ex.onAbort(() => {
      if (over) return;
      over = true;
      this.bodyReads--;
      this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
    });
    start((then) => {
      if (over) return;
      over = true;
      this.bodyReads--;
      then();
    });
  }

  private afterExtAuth(r: ExtAuthResult, route: CompiledRoute, entries: readonly ExtAuthEntry[], i: number, listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    if (ex.done) return this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
    const p = entries[i]!.provider;
    // A value or path the check could not carry: Envoy's codec answers such a request 400 first.
    if (r.kind === 'invalid') return this.codecError(req, route, ex);
    if (r.kind === 'error') {
      if (p.failOpen) {
        this.metrics.inc('jwtgate_ext_authz_total', 'failed_open');
        return this.runExtAuth(route, entries, i + 1, listenerPort, req, ex);
      }
      this.metrics.inc('jwtgate_ext_authz_total', 'error');
      this.log.debug('ext auth check failed', { extension: p.key, reason: r.reason });
      // A 1xx cannot end a request: 403 then (check warns about such a statusOnError).
      return this.extAuthReply(route, req, ex, p.statusOnError >= 200 ? p.statusOnError : 403, [], EMPTY_BODY, 'EXT_AUTHZ_ERROR');
    }
    if (r.kind === 'denied') {
      this.metrics.inc('jwtgate_ext_authz_total', 'denied');
      return this.extAuthReply(route, req, ex, r.status, r.headers, r.body, 'EXT_AUTHZ_DENIED');
    }
    this.metrics.inc('jwtgate_ext_authz_total', 'ok');
    const changed = applyAllowed(req, r);
    // The fields the server set are the gateway's now: a client's Connection naming one does not remove it.
    if (r.set.length > 0) {
      const names = r.set.filter((_, k) => k % 2 === 0);
      req.gatewayHeaders = req.gatewayHeaders === undefined ? names : [...req.gatewayHeaders, ...names];
    }
    if (r.clientHeaders.length > 0) {
      const ops: HeaderOp[] = [];
      for (let k = 0; k < r.clientHeaders.length; k += 2) ops.push({ op: 'add', name: r.clientHeaders[k]!, value: r.clientHeaders[k + 1]! });
      req.extAuthOps = req.extAuthOps === undefined ? ops : [...req.extAuthOps, ...ops];
    }
    // clearRouteCache: the request, its headers changed, is matched again; the new route's ext
    // auth filters after this one and its jwt filters run (the filters before stay as they ran).
    if (p.clearRouteCache && changed) {
      const again = this.route(listenerPort, req);
      if (typeof again === 'string') return this.deny(ex, again, req);
      if (again.invalid !== undefined) return this.deny(ex, 'ROUTE_CONFIG_INVALID', req, again);
      if (again !== route) {
        const rest = (again.auth.extAuth ?? []).filter((e) => extAuthOrder(e.provider, p) > 0);
        return this.runExtAuth(again, rest, 0, listenerPort, req, ex);
      }
    }
    this.runExtAuth(route, entries, i + 1, listenerPort, req, ex);
  }

  /**
   * The answer to a denied check (the server's status, headers and body) or a failed one
   * (statusOnError, empty): Envoy's local reply, with the route's response rules, then a
   * `content-type: text/plain` for a body without one, none for an empty body.
   */
  private extAuthReply(route: CompiledRoute, req: GatewayRequest, ex: ClientExchange, status: number, fromServer: readonly string[], body: Buffer, code: 'EXT_AUTHZ_DENIED' | 'EXT_AUTHZ_ERROR'): void {
    const headers = [...fromServer];
    const ops = responseOps(route.headerMutation, req);
    if (ops !== undefined) applyHeaderOps(headers, ops, true, req, ex.startedAt, status);
    const noBody = body.length === 0 || status === 204 || status === 304 || req.method === 'HEAD';
    if (body.length === 0) removeHeader(headers, 'content-type');
    else if (!headers.some((h, k) => k % 2 === 0 && h === 'content-type')) headers.push('content-type', 'text/plain');
    ex.respond(status, headers, noBody ? '' : body);
    this.record(code, req, ex, status);
  }

  /**
   * Runs `exts`, the JWT extensions of `route` still to run. Envoy clears the route cache when a
   * provider with clear_route_cache (kgateway: one with claimsToHeaders) accepts a token (spec
   * §4.8 step 5): the request is matched again with its new headers, and the later jwt_authn
   * filters apply what the new route asks of them. Not when an extension let the request through
   * without a token (AllowMissing). Auth changes only headers and the query, so without header
   * or query matchers on the port the match cannot change and every extension runs in one go.
   * `ran`: the extensions that already ran for this request under an earlier match.
   */
  private runAuth(route: CompiledRoute, exts: readonly JwtExtension[], ran: readonly JwtExtension[], claimsBefore: Claims | undefined, listenerPort: number, req: GatewayRequest, ex: ClientExchange): void {
    const outcome = this.auth.authenticate(req, exts, this.rematchPorts.has(listenerPort));
    if (outcome instanceof Promise) {
      this.authPending++;
      outcome.then(
        (o) => {
          this.authPending--;
          this.afterAuth(o, route, exts, ran, claimsBefore, listenerPort, req, ex);
        },
        (err) => {
          this.authPending--;
          this.log.error('authentication failed unexpectedly', { err: String(err) });
          this.deny(ex, 'INTERNAL', req);
        },
      );
    } else {
      this.afterAuth(outcome, route, exts, ran, claimsBefore, listenerPort, req, ex);
    }
  }

  private afterAuth(
    outcome: AuthOutcome,
    route: CompiledRoute,
    exts: readonly JwtExtension[],
    ranBefore: readonly JwtExtension[],
    claimsBefore: Claims | undefined,
    listenerPort: number,
    req: GatewayRequest,
    ex: ClientExchange,
  ): void {
    // The client went away during an asynchronous JWT check: counted and logged like one that
    // goes away at the upstream.
    if (ex.done) return this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
    // Envoy applies the route's response header rules to jwt_authn's local reply too.
    if (!outcome.ok) return this.deny(ex, outcome.code, req, route);
    // jwt_authn's metadata holds the payload of the last token verified, by this run or one
    // before a new match.
    const claims = outcome.claims ?? claimsBefore;
    if (outcome.stoppedAt === undefined) {
      // Every extension in `exts` ran. The claim headers the JWT stage owns are theirs (the
      // route's precomputed list on the usual path, where they are all of its extensions) and
      // those of the extensions that ran before a new match.
      const owned = ranBefore.length === 0 && exts === route.auth.jwt ? route.claimHeaders : claimHeadersOf([...ranBefore, ...exts]);
      if (owned.length > 0) req.gatewayHeaders = req.gatewayHeaders === undefined ? owned : [...req.gatewayHeaders, ...owned];
      return this.forward(route, req, ex, claims, false);
    }
    // An extension accepted a token with claim headers on a port whose routes match on headers
    // or the query: match again, then run the new route's extensions that have not run yet.
    // Envoy runs only those whose filter comes later in its chain (`jwt/<ns>/<name>` order), so
    // a new route's extension named before this one would be skipped there; jwtgate runs it
    // (README "Where jwtgate differs").
    const ran = [...ranBefore, ...exts.slice(0, outcome.stoppedAt + 1)];
    req.clearRouteCache = false;
    const again = this.route(listenerPort, req);
    if (typeof again === 'string') return this.deny(ex, again, req);
    if (again.invalid !== undefined) return this.deny(ex, 'ROUTE_CONFIG_INVALID', req, again);
    const rest = again.auth.jwt.filter((e) => !ran.some((r) => r.filterName === e.filterName));
    if (rest.length > 0) return this.runAuth(again, rest, ran, claims, listenerPort, req, ex);
    const owned = claimHeadersOf(ran);
    if (owned.length > 0) req.gatewayHeaders = req.gatewayHeaders === undefined ? owned : [...req.gatewayHeaders, ...owned];
    // kgateway's disable metadata was written (or not) for the first route, whose JWT ran.
    this.forward(again, req, ex, claims, false);
  }

  /**
   * After the JWT filters: the route's `rbac` (Envoy's RBAC filter, AuthZ stage), its local rate
   * limit (the RateLimit stage), then the proxy.
   * `claims`: the payload jwt_authn leaves in its dynamic metadata, undefined when no token was
   * verified; `jwtDisabled`: kgateway's set_metadata filter wrote `dev.kgateway.disable_jwt` (it
   * runs first, on the route first matched).
   */
  private forward(route: CompiledRoute, req: GatewayRequest, ex: ClientExchange, claims: Claims | undefined, jwtDisabled: boolean): void {
    const rbac = route.auth.rbac;
    // request.time is when the request arrived (Envoy: the stream's start), not after a JWKS wait.
    if (rbac !== undefined && !rbacAllows(rbac, req, claims, jwtDisabled, Date.now() - (performance.now() - ex.startedAt))) return this.deny(ex, 'RBAC_DENIED', req, route);
    // TrafficPolicy rateLimit.local: Envoy's local_ratelimit, in the stage after rbac (a request
    // refused by JWT or rbac takes no token), before the header rules and the router.
    if (route.rateLimit !== undefined && !rateLimitAllows(route.rateLimit)) return this.deny(ex, 'RATE_LIMITED', req, route);
    // TrafficPolicy buffer: Envoy's buffer filter, after the rate limit and before csrf (kgateway's
    // filter order): the whole body is read before the request goes on.
    if (route.buffer !== undefined && ex.hasBody) return this.bufferThenRoute(route, route.buffer.maxBytes, req, ex);
    this.routeAction(route, req, ex);
  }

  /**
   * Envoy's buffer filter: reads the body whole, up to `maxBytes`, then lets the request go on.
   * Past the limit Envoy's connection manager answers `413 Payload Too Large` and, the request
   * not being complete, closes the connection. A declared length over it is answered at once
   * (Envoy reads up to the limit first: the same answer, without waiting for the bytes).
   */
  private bufferThenRoute(route: CompiledRoute, maxBytes: number, req: GatewayRequest, ex: ClientExchange): void {
    // --max-request-body-bytes bounds what any request may bring, held or not: a body over it is
    // not held up to a larger route limit first (the gateway's memory is what the option protects).
    const global = this.opts.maxRequestBodyBytes ?? 0;
    const globalFirst = global > 0 && global < maxBytes;
    const limit = globalFirst ? global : maxBytes;
    const tooLarge = (): void => {
      ex.closeAfterResponse = true;
      this.deny(ex, globalFirst ? 'REQUEST_BODY_TOO_LARGE' : 'PAYLOAD_TOO_LARGE', req, route);
    };
    if (ex.contentLength > limit) return tooLarge();
    // (A client gone already would never be told about: its abort has been and gone.)
    if (ex.done) return this.record(this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED', req, ex);
    this.readBodyFirst(req, ex, (done) =>
      ex.bufferBody(
        limit,
        (bytes) =>
          done(() => {
            req.heldBodyBytes = bytes;
            this.routeAction(route, req, ex);
          }),
        () => done(tooLarge),
      ),
    );
  }

  /** Requests whose body is read before they go on (the drain waits for them). */
  private bodyReads = 0;

  /** After the filters before it: csrf (the route stage), then the router's action. */
  private routeAction(route: CompiledRoute, req: GatewayRequest, ex: ClientExchange): void {
    // TrafficPolicy csrf: Envoy's csrf filter, in the route stage (after the rate limit), before the router.
    if (route.auth.csrf !== undefined && csrfDenies(route.auth.csrf, req)) return this.deny(ex, 'CSRF_INVALID_ORIGIN', req, route);
    // A RequestRedirect: Envoy's router answers it (after the JWT and RBAC filters), no upstream.
    if (route.redirect !== undefined) return this.redirect(route, route.redirect, req, ex);
    // A DirectResponse: Envoy's router answers it too.
    if (route.directResponse !== undefined) return this.directRespond(route, route.directResponse, req, ex);
    // Envoy's weighted_clusters draw at random per request (a counter shared by every route
    // could fall into step with the traffic mix and send a rule's every request to one backend).
    const drawn = pickBackend(route, route.backends.length > 1 ? Math.floor(Math.random() * route.totalWeight) : 0);
    const backend = drawn?.target;
    // No backend: the share of a backendRef that does not resolve (Envoy: cluster not found, 500
    // and no body), or every weight is 0.
    // The share of an unresolved backendRef is Envoy's cluster-not-found local reply on the drawn
    // weighted cluster: that backendRef's response rules apply to its 500, before the route's.
    if (!backend) return this.deny(ex, route.totalWeight > 0 ? 'BACKEND_NOT_RESOLVED' : 'ROUTE_CONFIG_INVALID', req, route, drawn?.headerMutation);
    if (route.rewrite !== undefined) rewriteRequest(route.rewrite, req);
    // The backendRef's own header rules with the route's (several backendRefs), else the route's.
    const rules = drawn!.headerMutation ?? route.headerMutation;
    // The access log needs the request; without it no per-request closure is made.
    const after = filterResponseOps(req);
    const mutation = after === undefined ? rules : withFilterOps(rules, after);
    this.forwarder.forward(req, backend, ex, this.accessLog ? (o) => this.logProxied(o, req, route) : this.onProxyDone, mutation, route);
  }

  private readonly onProxyDone = (outcome: ProxyOutcome): string => {
    // A proxied exchange ends once: by a client abort or a proxy error code, else with a status.
    const result = outcome.clientAborted ? (this.drainCut ? 'DRAIN_CLOSED' : 'CLIENT_CLOSED') : outcome.code ?? 'OK';
    // INTERNAL is a bug (undici refused a request the checks before it let through): logged.
    if (result === 'INTERNAL') this.log.error('upstream request could not be sent', { endpoint: outcome.endpoint, reason: outcome.upstreamError });
    else if (result === 'UPSTREAM_UNAVAILABLE') {
      // The gateway's own host could not open the connection (the client got a 503 that says so).
      const local = localConnectFailure(outcome.upstreamError);
      if (local !== undefined) this.localFailureLog.note({ errno: outcome.upstreamError, error: local.text, endpoint: outcome.endpoint, hint: local.hint });
    }
    this.metrics.inc('jwtgate_requests_total', result);
    this.metrics.inc('jwtgate_upstream_responses_total', result === 'OK' ? STATUS_CLASS[Math.floor(outcome.status / 100)] ?? 'other' : result);
    this.proxiedDurationMs = performance.now() - outcome.startedAt;
    this.metrics.requestDuration.observe(this.proxiedDurationMs);
    return result;
  };

  /** The duration onProxyDone measured last (the access-log line of the same request reads it). */
  private proxiedDurationMs = 0;

  /** Access log line of a proxied request: never headers, query values or the token. */
  private logProxied(outcome: ProxyOutcome, req: GatewayRequest, route: CompiledRoute): void {
    const result = this.onProxyDone(outcome);
    const durationMs = this.proxiedDurationMs;
    this.accessLog?.info('request', {
      method: req.method,
      host: logHost(req.host),
      path: logPath(req.path),
      route: route.id,
      // A client gone before anything was sent: 499, as the auth stage and nginx log it.
      status: outcome.status === 0 && (result === 'CLIENT_CLOSED' || result === 'DRAIN_CLOSED') ? ERRORS[result].status : outcome.status,
      result,
      endpoint: outcome.endpoint,
      ...(outcome.attempts > 1 ? { attempts: outcome.attempts } : {}),
      requestBytes: outcome.requestBodyBytes,
      responseBytes: outcome.responseBodyBytes,
      durationMs: logMs(durationMs),
    });
  }

  /** A control character the front end let through (DEL) in a header value, the path or the query: Envoy's codec answers 400 and closes the connection. */
  private codecError(req: GatewayRequest, route: CompiledRoute, ex: ClientExchange): void {
    ex.closeAfterResponse = true;
    this.deny(ex, 'REQUEST_INVALID', req, route);
  }

  /** Answers a RequestRedirect rule: its status, an empty body, `location`, and the route's response header rules. */
  private redirect(route: CompiledRoute, r: RouteRedirect, req: GatewayRequest, ex: ClientExchange): void {
    const location = redirectLocation(r, req);
    // A control character the front end let through (DEL) in the path, query or Host: Envoy's
    // codec answers such a request 400; it never goes into a header here.
    if (CONTROL_CHAR.test(location)) return this.codecError(req, route, ex);
    const headers = ['location', location];
    const ops = responseOps(route.headerMutation, req);
    if (ops !== undefined) applyHeaderOps(headers, ops, true, req, ex.startedAt, r.status);
    ex.respond(r.status, headers, '');
    this.record('REDIRECT', req, ex, r.status);
  }

  /**
   * Envoy's `direct_response`, a local reply of the router, built in Envoy's order: a `location`
   * of the request's own URI for a 201 or a 3xx (the local reply's `newUri` without a redirect
   * config), then the route's response header rules, then `content-type: text/plain` when there is
   * a body and the rules set none, or no content-type at all without a body. A 204 or 304 goes
   * out without its body (they have none in HTTP; `check` warns).
   */
  private directRespond(route: CompiledRoute, d: RouteDirectResponse, req: GatewayRequest, ex: ClientExchange): void {
    const headers: string[] = [];
    // A bodyFormat reads the request as Envoy's router has it: with the connection manager's
    // x-forwarded-for, x-forwarded-proto and x-request-id.
    if (d.bodyFormat !== undefined) applyEdgeHeaders(req);
    if (d.status === 201 || (d.status >= 300 && d.status < 400)) {
      const location = `${req.scheme}://${req.authority}${req.path}${req.query === '' ? '' : `?${req.query}`}`;
      // A control character the front end let through never goes into a header (see redirect).
      if (CONTROL_CHAR.test(location)) return this.codecError(req, route, ex);
      headers.push('location', location);
    }
    const ops = responseOps(route.headerMutation, req);
    if (ops !== undefined) applyHeaderOps(headers, ops, true, req, ex.startedAt, d.status);
    // A bodyFormat is formatted from the request as routed, before the answer exists (Envoy's router).
    const body = d.status === 204 || d.status === 304 ? '' : d.bodyFormat !== undefined ? renderBody(d.bodyFormat, req, ex.startedAt) : d.body;
    if (body === '') removeHeader(headers, 'content-type');
    else if (!headers.some((h, i) => i % 2 === 0 && h === 'content-type')) headers.push('content-type', 'text/plain');
    ex.respond(d.status, headers, body);
    this.record('DIRECT_RESPONSE', req, ex, d.status);
  }

  /**
   * A local reply; on a matched `route`, with its response header rules, as Envoy applies them to
   * local replies (`rules`: those of the backendRef drawn, with the route's, when one was drawn).
   */
  private deny(ex: ClientExchange, code: ErrorCode, req: GatewayRequest, route?: CompiledRoute, rules: RouteHeaderMutation | undefined = route?.headerMutation): void {
    sendError(ex, code, req, undefined, responseOps(rules, req));
    this.record(code, req, ex);
  }

  /** Counts (and access-logs) a request that ends here with `code` (or a redirect's `status`), not at the proxy. */
  private record(code: ErrorCode | 'REDIRECT' | 'CORS_PREFLIGHT' | 'DIRECT_RESPONSE', req: GatewayRequest, ex: ClientExchange, status = code === 'REDIRECT' || code === 'CORS_PREFLIGHT' || code === 'DIRECT_RESPONSE' ? 0 : ERRORS[code].status): void {
    this.metrics.inc('jwtgate_requests_total', code);
    // A client that left during an asynchronous check: its request ended when it left.
    const durationMs = (ex.abortedAt ?? performance.now()) - ex.startedAt;
    this.metrics.requestDuration.observe(durationMs);
    this.accessLog?.info('request', { method: req.method, host: logHost(req.host), path: logPath(req.path), status, result: code, durationMs: logMs(durationMs) });
  }
}

const NONE_RAN: readonly JwtExtension[] = Object.freeze([]);
const EMPTY_BODY = Buffer.alloc(0);

/**
 * The response header rules of a local reply or redirect on `route`: its own, then those the
 * request's earlier filters add to every answer (filterResponseOps).
 */
function responseOps(rules: RouteHeaderMutation | undefined, req: GatewayRequest): readonly HeaderOp[] | undefined {
  const own = rules?.response;
  const after = filterResponseOps(req);
  return after === undefined ? own : own === undefined ? after : [...own, ...after];
}

/**
 * What the request's earlier filters add to any answer, in Envoy's encoder order: an allowing ext
 * auth server's `headersToClientOnSuccess`, then (for a CORS request from an allowed origin) the
 * cors filter's headers, applied last.
 */
function filterResponseOps(req: GatewayRequest): readonly HeaderOp[] | undefined {
  const ext = req.extAuthOps;
  const cors = req.corsOps;
  return ext === undefined ? cors : cors === undefined ? ext : [...ext, ...cors];
}

/** The route's header rules with `after` (filterResponseOps) following its response rules. */
function withFilterOps(m: RouteHeaderMutation | undefined, after: readonly HeaderOp[]): RouteHeaderMutation {
  return m === undefined ? { request: [], response: after, origins: ['CORS'] } : { request: m.request, response: [...m.response, ...after], origins: m.origins };
}

/**
 * A URLRewrite, as Envoy's router applies the route's rewrite: the new path (the query kept) is
 * sent upstream (with `x-envoy-original-path`, set by the Forwarder after the header rules, as
 * Envoy's router sets it after its own), and a new Host replaces the client's.
 */
function rewriteRequest(r: RouteRewrite, req: GatewayRequest): void {
  const path = rewrittenPath(r, req.path);
  if (path !== undefined) req.upstreamPath = path;
  if (r.host !== undefined) {
    // The client's Host goes; upstreamRequestHeaders sends `authority` as Host when there is none.
    removeHeader(req.headers, 'host');
    req.authority = r.host;
  }
}

/**
 * A drain's wait: resolves once nothing is `busy` and no request has arrived (`requests` did not
 * move) for `quietMs`, or after `deadlineMs`, looking every `everyMs`. Stopping at the first
 * moment nothing was in flight lost the requests keep-alive clients had already sent.
 * `unref`: its timers do not keep the process alive.
 */
async function quietOrDeadline(requests: () => number, busy: () => boolean, quietMs: number, deadlineMs: number, everyMs: number, unref = false): Promise<void> {
  const start = Date.now();
  let seen = requests();
  let quietSince = start;
  while (Date.now() < start + deadlineMs) {
    const now = Date.now();
    if (busy() || requests() !== seen) quietSince = now;
    else if (now - quietSince >= quietMs) return;
    seen = requests();
    await new Promise<void>((r) => {
      const t = setTimeout(r, everyMs);
      if (unref) t.unref();
    });
  }
}

/** A remote key set fetched from the same place the same way as before (`prev`: its previous source, if any). */
function sameRemoteSource(prev: KeySetSource | undefined, ks: RemoteKeySet): boolean {
  return prev?.kind === 'remote' && sourceKey(prev) === sourceKey(ks);
}

/** Two lists of imported keys are the same key set: the same keys, kids and algs in the same order. */
function sameKeys(a: readonly ImportedKey[], b: readonly ImportedKey[]): boolean {
  return a.length === b.length && a.every((k, i) => k.thumbprint === b[i]!.thumbprint && k.kid === b[i]!.kid && k.alg === b[i]!.alg && k.kty === b[i]!.kty && k.crv === b[i]!.crv);
}

/** Access-log lines stay short (log shippers split lines at 16 KiB): a host and a path keep their first 256 characters. */
const LOG_FIELD_MAX = 256;
/** The host as logged (and any field cut the same way). */
function logHost(host: string): string {
  return cutText(host, LOG_FIELD_MAX, LOG_FIELD_MAX);
}
/** A duration as logged: ms with µs precision. */
function logMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The path as logged: never a fragment (a client may send `#access_token=…`, which gets 400), at most 256 characters. */
function logPath(path: string): string {
  const hash = path.indexOf('#');
  return logHost(hash >= 0 ? path.slice(0, hash) : path);
}

/** The claim headers `exts` own (sanitize, then set): as the compiler builds a route's claimHeaders. */
function claimHeadersOf(exts: readonly JwtExtension[]): readonly string[] {
  return exts.flatMap((e) => e.sanitizeHeaders);
}

type Claims = Readonly<Record<string, unknown>>;

function matchesOnHeadersOrQuery(table: PortTable): boolean {
  return someRoute(table, (r) => r.headers.length > 0 || r.queryParams.length > 0);
}

/** Routes that see Envoy's edge values before the proxy: those matching on them, `rbac` (its expressions read request.headers) and ext auth (its server is asked with them). */
function matchesOnEdgeHeaders(table: PortTable): boolean {
  // An ext auth server sees the request as Envoy's filters do: with the connection manager's
  // x-forwarded-for, x-forwarded-proto and x-request-id (and it may set them for the upstream).
  return someRoute(table, (r) => r.auth.rbac !== undefined || r.auth.extAuth !== undefined || r.headers.some((h) => PRE_ROUTE_HEADERS.has(h.name)));
}

function someRoute(table: PortTable, test: (r: CompiledRoute) => boolean): boolean {
  const uses = (routes: readonly CompiledRoute[]) => routes.some(test);
  return table.listeners.some(({ routes }) => uses(routes.any) || routes.wildcard.some((w) => uses(w.routes)) || [...routes.exact.values()].some(uses));
}
