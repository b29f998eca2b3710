// A real HTTP authorization server for the TrafficPolicy extAuth tests (Envoy's ext_authz over
// HTTP): it records every check it is asked (as it starts; the body once it has come) and lets
// the test's handler answer it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayOptions } from '../../src/gateway.js';
import { startHarness, staticBackend, type Harness } from './harness.js';

export interface Asked {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The body, once it has all come (empty until then). */
  body: Buffer;
  /** Date.now() when the check arrived. */
  readonly at: number;
  /** Date.now() when its connection closed before the answer was sent (a cancelled check). */
  closedAt?: number;
  answered: boolean;
}

export type AuthHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

export interface AuthServer {
  readonly port: number;
  readonly asked: Asked[];
  /** Checks whose connection went away before the server had answered. */
  readonly cancelled: number;
  close(): Promise<void>;
}

export async function startAuthServer(handler: AuthHandler): Promise<AuthServer> {
  const asked: Asked[] = [];
  let cancelled = 0;
  const server = http.createServer((req, res) => {
    const a: Asked = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0), at: Date.now(), answered: false };
    asked.push(a);
    res.on('finish', () => (a.answered = true));
    res.on('close', () => {
      if (a.answered) return;
      a.closedAt = Date.now();
      cancelled++;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      a.body = Buffer.concat(chunks);
      handler(req, res, a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    asked,
    get cancelled() {
      return cancelled;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Runs `fn` against a gateway (the harness, with `manifests(authPort)` beside the sample app) and
 * an authorization server answering with `handler`; both are closed after it.
 */
export async function withAuthServer(handler: AuthHandler, manifests: (authPort: number) => string[], fn: (h: Harness, auth: AuthServer) => Promise<void>, gateway?: Partial<GatewayOptions>): Promise<void> {
  const auth = await startAuthServer(handler);
  try {
    const h = await startHarness({ manifests: manifests(auth.port), ...(gateway ? { gateway } : {}) });
    try {
      await fn(h, auth);
    } finally {
      await h.close();
    }
  } finally {
    await auth.close();
  }
}

/** The gateway's `jwtgate_ext_authz_total{result}`. */
export const extAuthChecks = (h: Harness, result: string): number => h.gateway.metrics.get('jwtgate_ext_authz_total', result);

/**
 * A `---`-led GatewayExtension `httpbin/<name>` whose httpService is a Static Backend
 * `<name>-server` on 127.0.0.1:`port`; `top`: lines under extAuth (indented four spaces), `svc`:
 * lines under httpService (six).
 */
export function authExtension(name: string, port: number, top = '', svc = ''): string {
  return `${staticBackend(`${name}-server`, [port])}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { namespace: httpbin, name: ${name} }
spec:
  type: ExtAuth
  extAuth:
${top}    httpService:
      backendRef: { group: gateway.kgateway.dev, kind: Backend, name: ${name}-server }
${svc}`;
}
