// Starts a real gateway on a real socket (port 0) in front of the real bundled echo upstream,
// with the sample app's Gateway/HTTPRoute plus the manifests a test provides.
import { mkdtemp, writeFile, copyFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Gateway, type GatewayOptions } from '../../src/gateway.js';
import { startEchoUpstream } from '../../src/upstream/echo.js';
import { repoRoot, sampleTokenPath } from './paths.js';

/** The sample app's Gateway: kgateway-system/http, one HTTP listener on 8080, routes from all namespaces. */
export const SAMPLE_GATEWAY = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: http, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: http, protocol: HTTP, port: 8080, allowedRoutes: { namespaces: { from: All } } }
`;

export function sampleApp(echoPort: number): string {
  return `${SAMPLE_GATEWAY}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: httpbin, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
${staticBackend('httpbin', [echoPort])}`;
}

/** A `---`-led Static kgateway Backend in the sample app's namespace over 127.0.0.1 at `ports`. */
export function staticBackend(name: string, ports: readonly number[]): string {
  return `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: ${name}, namespace: httpbin }
spec:
  type: Static
  static: { hosts: [${ports.map((p) => `{ host: 127.0.0.1, port: ${p} }`).join(', ')}] }
`;
}

/**
 * An HTTPRoute in the sample app's namespace: PathPrefix `prefix` on www.example.com to its Backend
 * `httpbin`, with `filters` (a YAML flow list) on its rule when given.
 */
export function sampleRoute(name: string, prefix: string, filters?: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [www.example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
${filters !== undefined ? `    filters: ${filters}\n` : ''}    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: httpbin }]
`;
}

/**
 * A `---`-led JWT GatewayExtension `<namespace>/<name>` with one provider `idp` for `issuer`
 * (https://idp.example.com by default) and the inline key set `jwks`; `providerLines`: more of
 * the provider's fields, each line indented six spaces.
 */
export function jwtExtension(name: string, namespace: string, jwks: string, opts: { issuer?: string; providerLines?: string } = {}): string {
  return `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  jwt:
    providers:
    - name: idp
      issuer: ${opts.issuer ?? 'https://idp.example.com'}
${opts.providerLines ?? ''}      jwks: { local: { inline: '${jwks}' } }
`;
}

/** A `---`-led Gateway `kgateway-system/<name>` with one HTTP listener on 8080 for `hostname` (sharing the sample Gateway's port), routes from all namespaces. */
export function portSharingGateway(name: string, listener: string, hostname: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name}, namespace: kgateway-system }
spec:
  gatewayClassName: kgateway
  listeners:
  - { name: ${listener}, protocol: HTTP, port: 8080, hostname: "${hostname}", allowedRoutes: { namespaces: { from: All } } }
`;
}

/**
 * A `---`-led HTTPRoute in the sample app's namespace for `host`, on Gateway `gateway` (in
 * kgateway-system), whose one rule goes to Backend `backend`, with `extra` rule lines (indented
 * four spaces, newline-ended) after its backendRefs.
 */
export function hostRoute(name: string, host: string, extra = '', backend = 'httpbin', gateway = 'http'): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: httpbin }
spec:
  parentRefs: [{ name: ${gateway}, namespace: kgateway-system }]
  hostnames: [${host}]
  rules:
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: ${backend} }]
${extra}`;
}

/** A `---`-led kgateway DirectResponse `httpbin/<name>` with `spec` (flow YAML). */
export function directResponse(name: string, spec: string): string {
  return `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: { name: ${name}, namespace: httpbin }
spec: ${spec}
`;
}

/** An HTTPRoute rule's ExtensionRef filter naming DirectResponse `<name>` (flow YAML). */
export function directResponseRef(name: string): string {
  return `{ type: ExtensionRef, extensionRef: { name: ${name}, group: gateway.kgateway.dev, kind: DirectResponse } }`;
}

/** The sample token (`config/examples/sample-token.txt`: team dev, org solo.io). */
export const SAMPLE_TOKEN = readFileSync(sampleTokenPath, 'utf8').trim();

/** The default config's JWT GatewayExtension `selfminted-jwt` (it checks SAMPLE_TOKEN), in the sample app's namespace; not `---`-led. */
export const SAMPLE_JWT_EXTENSION = readFileSync(path.join(repoRoot, 'config', 'default', '10-jwt.yaml'), 'utf8').split('\n---\n')[0]!.replace('namespace: kgateway-system', 'namespace: httpbin');

/** `jwtgate_requests_total{result="<result>"}` of the harness's gateway now. */
export function requestsCounted(h: Harness, result: string): number {
  return Number(h.gateway.renderMetrics().match(new RegExp(`jwtgate_requests_total\\{result="${result}"\\} (\\d+)`))?.[1] ?? 0);
}

/**
 * A `---`-led HTTPRoute `name` on `host` with two rules to Backend `backend`: PathPrefix `prefix`
 * through an ExtensionRef filter naming TrafficPolicy `policy` (a policy without targets, whose
 * spec is the one line `spec`), and the rest; then that policy. For a field a rule turns off.
 */
export function ruleOverrideRoute(name: string, host: string, prefix: string, policy: string, spec: string, backend = 'httpbin'): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: httpbin }
spec:
  parentRefs: [{ name: http, namespace: kgateway-system }]
  hostnames: [${host}]
  rules:
  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: ExtensionRef, extensionRef: { group: gateway.kgateway.dev, kind: TrafficPolicy, name: ${policy} } }]
    backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: ${backend} }]
  - backendRefs: [{ group: gateway.kgateway.dev, kind: Backend, name: ${backend} }]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${policy}, namespace: httpbin }
spec:
  ${spec}
`;
}

/** A `---`-led TrafficPolicy `name` in the sample app's namespace targeting HTTPRoute `route`, with `spec` lines (indented two spaces) after its targetRefs. */
export function routePolicy(name: string, route: string, spec: string): string {
  return `---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: httpbin }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: ${route} }]
${spec}
`;
}

/** A `---`-led HTTPRoute like sampleRoute whose one rule on PathPrefix `prefix` has `filters` (a YAML flow list). */
export function filteredRoute(name: string, prefix: string, filters: string): string {
  return `---\n${sampleRoute(name, prefix, filters)}`;
}

export type Echo = Awaited<ReturnType<typeof startEchoUpstream>>;

/** The values of header `name` (lowercase) in the last request the echo upstream received, one per field line, in order. */
export function lastReceived(echo: Echo, name: string): string[] {
  const r = echo.received.at(-1)!;
  const out: string[] = [];
  for (let i = 0; i < r.headers.length; i += 2) if (r.headers[i]!.toLowerCase() === name) out.push(r.headers[i + 1]!);
  return out;
}

export interface Harness {
  gateway: Gateway;
  echo: Echo;
  port: number;
  dir: string;
  close(): Promise<void>;
}

export async function startHarness(opts: {
  /** YAML texts written as files next to the sample app. */
  manifests?: string[];
  /** Existing manifest files copied in. */
  files?: string[];
  /** Replace the sample app (gets the echo port). */
  base?: (echoPort: number) => string;
  gateway?: Partial<GatewayOptions>;
}): Promise<Harness> {
  const echo = await startEchoUpstream({ host: '127.0.0.1', port: 0 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jwtgate-test-'));
  await writeFile(path.join(dir, '00-base.yaml'), (opts.base ?? sampleApp)(echo.port));
  let i = 0;
  for (const text of opts.manifests ?? []) await writeFile(path.join(dir, `1${i++}-test.yaml`), text);
  for (const f of opts.files ?? []) await copyFile(f, path.join(dir, `2${i++}-${path.basename(f)}`));
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      configPaths: [dir],
      host: '127.0.0.1',
      portOverrides: new Map([[8080, 0]]),
      verifyThreads: 1,
      ...opts.gateway,
    });
  } catch (err) {
    await echo.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let port: number;
  try {
    port = gateway.port(8080);
  } catch (err) {
    // No listener on 8080 (its Gateway not served): stop what started, or the test process hangs.
    await gateway.stop(0);
    await echo.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    gateway,
    echo,
    port,
    dir,
    async close() {
      await gateway.stop(0);
      await echo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
