// A JWKS server on loopback that tests control: what it answers (the current JWKS, or queued
// one-shot answers: status, body, delay), whether it listens at all (stop/resume on the same
// port), plain HTTP or TLS. Records every request (path, Host, SNI) so tests count fetches.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface Answer {
  status?: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Wait this long before answering (a slow server). */
  delayMs?: number;
}

export interface ReceivedRequest {
  readonly path: string;
  readonly host: string;
  readonly sni?: string;
  readonly at: number;
}

export interface JwksServer {
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** Requests received, in order. */
  readonly requests: ReceivedRequest[];
  /** Requests received for `path` (default the JWKS path). */
  fetches(path?: string): number;
  /** The document served once the queue is empty. */
  jwks: string;
  /** One-shot answers, used in order before falling back to `jwks`. */
  queue(...answers: Answer[]): void;
  /** Every answer from now on (until cleared with undefined). */
  always(answer: Answer | undefined): void;
  /** Stops listening (connections are refused) and resumes on the same port. */
  stop(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export const JWKS_PATH = '/keys';

export async function startJwksServer(opts: { jwks?: string; tls?: { key: string; cert: string }; port?: number } = {}): Promise<JwksServer> {
  const requests: ReceivedRequest[] = [];
  let pending: Answer[] = [];
  let fixed: Answer | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sni = (req.socket as TLSSocket).servername;
    requests.push({ path: req.url ?? '', host: req.headers.host ?? '', ...(typeof sni === 'string' ? { sni } : {}), at: Date.now() });
    const a = pending.shift() ?? fixed ?? { status: 200, body: server.jwks, headers: { 'content-type': 'application/json' } };
    const send = () => {
      timers.delete(t);
      if (res.destroyed) return;
      res.writeHead(a.status ?? 200, a.headers ?? { 'content-type': 'application/json' });
      res.end(a.body ?? server.jwks);
    };
    const t = setTimeout(send, a.delayMs ?? 0);
    timers.add(t);
  };
  const make = () => (opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler));
  let srv = make();
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port));
    });
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      srv.closeAllConnections();
      srv.close(() => resolve());
    });
  const port = await listen(opts.port ?? 0);
  let listening = true;
  const server: JwksServer = {
    port,
    scheme: opts.tls ? 'https' : 'http',
    requests,
    jwks: opts.jwks ?? '{"keys":[]}',
    fetches: (path = JWKS_PATH) => requests.filter((r) => r.path === path).length,
    queue: (...answers) => {
      pending.push(...answers);
    },
    always: (answer) => {
      fixed = answer;
      pending = [];
    },
    async stop() {
      if (!listening) return;
      listening = false;
      await shut();
    },
    async resume() {
      if (listening) return;
      srv = make();
      await listen(port);
      listening = true;
    },
    async close() {
      if (listening) await shut();
      listening = false;
    },
  };
  return server;
}

/** A free loopback port nobody listens on (for "IdP down at start"). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
