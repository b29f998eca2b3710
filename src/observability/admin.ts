// The admin endpoint (`--admin HOST:PORT`), up before the gateway starts: /ready (200 once every
// listener is bound and every key set is loaded, else 503), /healthz (200 while the process runs,
// start-up included), /config_dump (the
// compiled snapshot as JSON, keys described by kid/alg/thumbprint, never key material) and
// /metrics (Prometheus text). Plain node:http: it is off the request hot path.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../gateway.js';
import { configDumpText } from '../config/dump.js';
import { StartupError } from '../errors.js';

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `gateway` is undefined while the gateway starts (loading the configuration, binding its
 * listeners, waiting for the first remote JWKS fetches): /healthz answers 200 then, the others 503.
 */
/** The routes answered once the gateway exists. */
const ROUTES = new Set(['/ready', '/config_dump', '/metrics']);

/** A response not taken by its client in this time is dropped (a large /config_dump held in memory). */
const RESPONSE_TIMEOUT_MS = 30_000;

export function startAdmin(current: () => Gateway | undefined, host: string, port: number): Promise<AdminServer> {
  // One /config_dump at a time: each holds its whole text until its client has read it.
  let dumping = false;
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...extra });
      res.end(body);
    };
    res.setTimeout(RESPONSE_TIMEOUT_MS, () => res.destroy());
    try {
      handle(req, res, send);
    } catch (err) {
      // An admin read never takes the gateway down.
      if (!res.headersSent) send(500, 'text/plain', `admin request failed: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    }
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse, send: (status: number, type: string, body: string, extra?: Record<string, string>) => void): void => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    const gateway = current();
    if (url === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (gateway === undefined) return ROUTES.has(url) ? send(503, 'text/plain', 'starting\n') : send(404, 'text/plain', 'not found: try /ready, /healthz, /config_dump, /metrics\n');
    switch (url) {
      case '/ready':
        return gateway.ready ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
      case '/config_dump': {
        if (dumping) return send(503, 'text/plain', 'another /config_dump is being sent: retry when it is done\n', { 'retry-after': '1' });
        let text: string;
        try {
          text = configDumpText(gateway.snapshot, (id) => gateway.remoteState(id), gateway.lastReload) + '\n';
        } catch (err) {
          // Past V8's string limit (~512 MB): said, not thrown.
          if (err instanceof RangeError) return send(500, 'text/plain', `config_dump is too large to send (${err.message}); check the configuration with jwtgate check\n`);
          throw err;
        }
        dumping = true;
        // Done once the text is all handed to the socket, or the client has gone.
        const done = () => (dumping = false);
        res.once('finish', done);
        res.once('close', done);
        return send(200, 'application/json', text);
      }
      case '/metrics':
        return send(200, 'text/plain; version=0.0.4; charset=utf-8', gateway.renderMetrics());
      default:
        return send(404, 'text/plain', 'not found: try /ready, /healthz, /config_dump, /metrics\n');
    }
  };
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new StartupError(`cannot start admin server on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
