// The admin endpoint (`--admin HOST:PORT`), up before the gateway starts: /ready (200 once every
// listener is bound and every key set is loaded, else 503), /healthz (200 while the process runs,
// start-up included), /config_dump (the
// compiled snapshot as JSON, keys described by kid/alg/thumbprint, never key material) and
// /metrics (Prometheus text). Plain node:http: it is off the request hot path.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Gateway } from '../gateway.js';
import { configDump } from '../config/dump.js';
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

export function startAdmin(current: () => Gateway | undefined, host: string, port: number): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...extra });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    const gateway = current();
    if (url === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (gateway === undefined) return send(ROUTES.has(url) ? 503 : 404, 'text/plain', 'starting\n');
    switch (url) {
      case '/ready':
        return gateway.ready ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
      case '/config_dump':
        return send(200, 'application/json', JSON.stringify(configDump(gateway.snapshot, (id) => gateway.remoteState(id)), null, 2) + '\n');
      case '/metrics':
        return send(200, 'text/plain; version=0.0.4', gateway.renderMetrics());
      default:
        return send(404, 'text/plain', 'not found: try /ready, /healthz, /config_dump, /metrics\n');
    }
  });
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
