// Manifests for remote-JWKS tests: a Static Backend pointing at the JWKS server, the
// GatewayExtension `selfminted-jwt` (kgateway-system, the name the seed's TrafficPolicy uses)
// with one jwks.remote provider, and that TrafficPolicy on the harness Gateway. Plus a logger
// that keeps its lines, a token minter for the JWKS server's keys, and a gateway started on those
// manifests with that logger; and such a gateway whose IdP is slow to bring in a rotated key.
import assert from 'node:assert/strict';
import { createLogger, type Logger } from '../../src/observability/log.js';
import type { GatewayOptions } from '../../src/gateway.js';
import { startHarness, type Harness } from './harness.js';
import { request } from './http-client.js';
import { JWKS_PATH, startJwksServer } from './jwks-server.js';
import { mint } from './tokens.js';
import { jwksOf, rsaSigningKey, type SigningKey } from './signing-keys.js';

export const EXT_ID = 'GatewayExtension/kgateway-system/selfminted-jwt#idp';
export const ISSUER = 'https://idp.test';

export interface RemoteOpts {
  url: string;
  backendHost?: string;
  backendPort: number;
  issuer?: string;
  cacheDuration?: string;
  fastListener?: boolean;
  failedRefetchDuration?: string;
  /** YAML flow map for retryPolicy, e.g. `{ numRetries: 2, backOff: { baseInterval: 10ms } }`. */
  retryPolicy?: string;
  /** More YAML documents (BackendConfigPolicy, Secret, …). */
  extra?: string;
}

export function remoteJwksManifests(o: RemoteOpts): string {
  const asyncFetch = o.fastListener !== undefined || o.failedRefetchDuration !== undefined;
  return `apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: jwks-idp, namespace: kgateway-system }
spec:
  static: { hosts: [{ host: ${o.backendHost ?? '127.0.0.1'}, port: ${o.backendPort} }] }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: selfminted-jwt, namespace: kgateway-system }
spec:
  jwt:
    providers:
    - name: idp
      issuer: ${o.issuer ?? ISSUER}
      jwks:
        remote:
          url: ${o.url}
          backendRef: { group: gateway.kgateway.dev, kind: Backend, name: jwks-idp }
${o.cacheDuration ? `          cacheDuration: ${o.cacheDuration}\n` : ''}${asyncFetch ? `          asyncFetch: { ${[o.fastListener !== undefined ? `fastListener: ${o.fastListener}` : '', o.failedRefetchDuration ? `failedRefetchDuration: ${o.failedRefetchDuration}` : ''].filter(Boolean).join(', ')} }\n` : ''}${o.retryPolicy ? `          retryPolicy: ${o.retryPolicy}\n` : ''}---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: jwt-policy, namespace: kgateway-system }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: http }]
  jwtAuth: { extensionRef: { name: selfminted-jwt } }
${o.extra ? `---\n${o.extra}` : ''}`;
}

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Record<string, unknown>[];
  /** Lines whose msg contains `text`. */
  find(text: string): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  return { logger, lines, find: (text) => lines.filter((l) => String(l['msg']).includes(text)) };
}

/** An RS256 token for `key`, issuer ISSUER, valid for 10 minutes. */
export function tokenFor(key: SigningKey, over: { kid?: string; iss?: string } = {}): string {
  return mint({ alg: 'RS256', key: key.privateKey, kid: over.kid ?? key.kid, payload: { iss: over.iss ?? ISSUER, sub: 'tester', exp: Math.floor(Date.now() / 1000) + 600 } });
}

/**
 * Runs `fn` against a gateway on the remote-JWKS manifests for the JWKS server on `port` (its
 * `path`, default JWKS_PATH), logging into a CapturedLog; closes the gateway after.
 */
export async function withGateway(
  o: Omit<RemoteOpts, 'url' | 'backendPort'> & { port: number; path?: string; gateway?: Partial<GatewayOptions> },
  fn: (h: Harness, log: CapturedLog) => Promise<void>,
): Promise<void> {
  const log = captureLog();
  const { port, path, gateway, ...rest } = o;
  const h = await startHarness({
    manifests: [remoteJwksManifests({ url: `http://127.0.0.1:${port}${path ?? JWKS_PATH}`, backendPort: port, ...rest })],
    gateway: { logger: log.logger, ...gateway },
  });
  try {
    await fn(h, log);
  } finally {
    await h.close();
  }
}

/**
 * A gateway (withGateway) whose IdP has served key k1 (a k1 token gets 200) and answers the next
 * fetch, the kid-miss refetch a k2 token sets off, only after `delayMs`, with k1 and k2: `fn` gets
 * the gateway, its log and such a k2 token, whose check waits for that refetch. Closes both after.
 */
export async function withSlowRotation(
  delayMs: number,
  gateway: Partial<GatewayOptions>,
  fn: (h: Harness, log: CapturedLog, k2Token: string) => Promise<void>,
): Promise<void> {
  const K1 = rsaSigningKey('k1');
  const K2 = rsaSigningKey('k2');
  const idp = await startJwksServer({ jwks: jwksOf(K1) });
  try {
    await withGateway({ port: idp.port, gateway }, async (h, log) => {
      assert.equal((await request({ port: h.port, headers: { authorization: `Bearer ${tokenFor(K1)}` } })).status, 200);
      idp.queue({ body: jwksOf(K1, K2), delayMs, headers: { 'content-type': 'application/json' } });
      await fn(h, log, tokenFor(K2));
    });
  } finally {
    await idp.close();
  }
}
