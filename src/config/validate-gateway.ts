// Gateway (gateway.networking.k8s.io/v1): listeners as jwtgate can serve them (plain HTTP),
// allowedRoutes, and the listener conflicts Gateway API forbids. A listener the API server would
// refuse (a bad hostname, port or name, a conflict) makes the whole Gateway unserved, as the
// Gateway would not exist. A listener kgateway drops (an unsupported route kind) is dropped. A
// listener kgateway serves but jwtgate cannot (HTTPS/TLS/TCP, allowedRoutes Selector) fails
// closed: where its port is served, its hostname answers 500 instead of falling through to a
// sibling listener's routes (and their policies).

import type { ConfigProblem } from '../errors.js';
import type { RawResource } from './resource.js';
import { any, enumOf, int, list, obj, ParseCtx, str, type Infer } from './schema.js';
import { documentSchema, GATEWAY_API_GROUP, group, hostname, kind, sectionName, modelBase } from './validate-common.js';

const listener = obj(
  {
    name: sectionName(),
    hostname: hostname().optional(),
    port: int({ min: 1, max: 65535 }),
    protocol: str({ min: 1, max: 255 }),
    allowedRoutes: obj({
      namespaces: obj({
        from: enumOf(['All', 'Same', 'Selector'] as const).default('Same'),
        selector: any().optional(),
      }).default({ from: 'Same' }),
      kinds: list(obj({ group: group().default(GATEWAY_API_GROUP), kind: kind() }), { max: 8 }).optional(),
    }).default({ namespaces: { from: 'Same' } }),
    tls: any().optional(),
  },
);

const spec = obj(
  {
    gatewayClassName: str({ min: 1, max: 253 }).optional(),
    listeners: any().optional(), // validated one by one below
    allowedListeners: obj({
      namespaces: obj({
        from: enumOf(['All', 'Same', 'Selector', 'None'] as const).default('None'),
        selector: any().optional(),
      }).default({ from: 'None' }),
    }).default({ namespaces: { from: 'None' } }),
  },
  {
    ignored: {
      addresses: 'addresses is ignored: jwtgate listens on the address given with --host (default 0.0.0.0, every interface)',
      infrastructure: 'infrastructure is ignored by jwtgate',
      backendTLS: 'backendTLS is ignored: jwtgate does not originate TLS yet',
      tls: 'tls is ignored by jwtgate',
    },
  },
);

const document = documentSchema(spec);

export interface ListenerModel {
  readonly name: string;
  readonly index: number;
  readonly port: number;
  readonly hostname?: string;
  readonly allowedFrom: 'All' | 'Same';
  /** allowedRoutes.kinds permits HTTPRoute (true when unset). */
  readonly allowsHTTPRoute: boolean;
}

/** A listener kgateway would serve and jwtgate cannot: its hostname answers 500 on its port. */
export interface FailClosedListener {
  readonly name: string;
  readonly index: number;
  readonly port: number;
  readonly hostname?: string;
  readonly reason: string;
}

export interface GatewayModel {
  readonly raw: RawResource;
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  /** Listeners without errors, in manifest order. */
  readonly listeners: readonly ListenerModel[];
  /** Names of listeners that have errors. */
  readonly invalidListeners: readonly string[];
  /** Listeners jwtgate cannot serve that kgateway would (see FailClosedListener). */
  readonly failClosedListeners: readonly FailClosedListener[];
  /** spec.allowedListeners.namespaces.from: which ListenerSets may attach (None by default). */
  readonly allowedListeners: 'All' | 'Same' | 'Selector' | 'None';
  /** No errors at the Gateway level (spec, listener list). */
  readonly valid: boolean;
  /**
   * Set when kgateway would serve the Gateway with something jwtgate does not apply (an
   * inherited-policy-priority other than ShallowMergePreferChild, a ListenerPolicy that denies
   * or strips): its listeners stay, and every request for its hosts answers 500, as under an
   * invalid Gateway-wide policy. Not serving it at all would hand its hostnames to another
   * Gateway's routes on the same port (one socket per port here, a proxy per Gateway there).
   */
  readonly refused?: string;
  readonly error?: string;
}

export function validateGateway(raw: RawResource, problems: ConfigProblem[]): GatewayModel {
  const cx = ParseCtx.for(raw, problems);
  const before = problems.length;
  const doc = document.parse(raw.object, '', cx);
  const spec = doc?.spec;
  const specObj = raw.object['spec'] as Record<string, unknown> | undefined;
  if (spec && spec.gatewayClassName === undefined && specObj && specObj['gatewayClassName'] === undefined) {
    cx.warn('spec.gatewayClassName', 'Required value in Kubernetes (jwtgate accepts a Gateway without it and ignores the class)');
  }
  // kgateway: parent policies win over the routes' (a route's `jwtAuth.disable` would no longer
  // turn off a Gateway's JWT). jwtgate merges with the child preferred only, so rather than serve
  // routes without the JWT check kgateway would apply, such a Gateway is refused.
  // Counted apart from the Gateway's own errors: the Gateway is served, answering 500 (`refused`).
  const gatewayErrors = cx.errors;
  const priority = raw.annotations['kgateway.dev/inherited-policy-priority'];
  let refused: string | undefined;
  if (priority !== undefined && priority !== 'ShallowMergePreferChild') {
    refused = `kgateway.dev/inherited-policy-priority "${priority}" is not supported by this jwtgate version (only ShallowMergePreferChild, the default)`;
    cx.error('metadata.annotations.kgateway.dev/inherited-policy-priority', `"${priority}" is not supported by this jwtgate version (only ShallowMergePreferChild, the default): every request for the Gateway's hosts answers 500 rather than being served with route-level policies overriding its own`);
  }
  const listeners: ListenerModel[] = [];
  const invalidListeners: string[] = [];
  const failClosedListeners: FailClosedListener[] = [];
  let listenerSchemaError = false;
  const rawListeners = specObj?.['listeners'];
  let listError = false;
  if (rawListeners === undefined || rawListeners === null) {
    cx.error('spec.listeners', 'Required value: a Gateway needs at least 1 listener');
    listError = true;
  } else if (!Array.isArray(rawListeners)) {
    cx.error('spec.listeners', 'Invalid value: must be a list');
    listError = true;
  } else {
    if (rawListeners.length === 0) {
      cx.error('spec.listeners', 'Required value: must have at least 1 item');
      listError = true;
    }
    if (rawListeners.length > 64) cx.error('spec.listeners', `Too many: ${rawListeners.length}: must have at most 64 items`);
    const seenNames = new Map<string, number>();
    const seenAddr = new Map<string, number>();
    rawListeners.forEach((rl, i) => {
      const p = `spec.listeners[${i}]`;
      const e0 = cx.errors;
      const l = rl === null || rl === undefined ? undefined : listener.parse(rl, p, cx);
      if (rl === null || rl === undefined) cx.error(p, 'Invalid value: null');
      // What jwtgate cannot serve, although the API server and kgateway accept it.
      let unsupported: string | undefined;
      let unsupportedErrors = 0;
      let dropped = false;
      if (l) {
        if (l.protocol !== undefined && l.protocol !== 'HTTP') {
          unsupported ??= `protocol ${l.protocol} is not supported by jwtgate`;
          unsupportedErrors++;
          // `http`: the API server takes it (a protocol name is any DNS-label-like word), kgateway
          // does not know it; not a protocol jwtgate lacks.
          cx.error(
            `${p}.protocol`,
            l.protocol.toUpperCase() === 'HTTP'
              ? `protocol is case-sensitive: did you mean "HTTP"? (kgateway does not know protocol ${l.protocol}): requests for its hostname on a port jwtgate serves get 500`
              : `protocol ${l.protocol} is not supported by jwtgate (only HTTP listeners; terminate TLS in front of jwtgate): requests for its hostname on a port jwtgate serves get 500`,
          );
        }
        // The API server refuses the Gateway (a CEL rule on listeners): it would not exist.
        if (l.tls !== undefined && (l.protocol === 'HTTP' || l.protocol === 'TCP' || l.protocol === 'UDP')) {
          cx.error(`${p}.tls`, `Invalid value: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP'] (the API server refuses this Gateway): the Gateway is not served`);
        }
        const from = l.allowedRoutes?.namespaces?.from;
        if (from === 'Selector') {
          unsupported ??= 'allowedRoutes.namespaces.from: Selector is not supported by jwtgate';
          unsupportedErrors++;
          cx.error(`${p}.allowedRoutes.namespaces.from`, 'allowedRoutes.namespaces.from: Selector is not supported by jwtgate (use Same or All): requests for its hostname get 500 rather than reach another listener\'s routes');
        }
        const kinds = l.allowedRoutes?.kinds;
        if (kinds) {
          kinds.forEach((k, j) => {
            if (typeof k.kind !== 'string') return; // reported with its path by the schema
            if (k.group === GATEWAY_API_GROUP && k.kind === 'HTTPRoute') return;
            if (k.group === GATEWAY_API_GROUP && k.kind === 'GRPCRoute') {
              cx.warn(`${p}.allowedRoutes.kinds[${j}]`, 'GRPCRoute is not served by jwtgate (HTTP/1.1 only): only HTTPRoutes attach to this listener');
              return;
            }
            // kgateway (listener/validation.go validateSupportedRoutes) drops an HTTP listener
            // that lists a kind other than HTTPRoute/GRPCRoute: its routes attach only to the
            // Gateway's other listeners.
            dropped = true;
            cx.warn(`${p}.allowedRoutes.kinds[${j}]`, `route kind ${k.group}/${k.kind} is not supported on an HTTP listener: the listener is dropped, as kgateway does (InvalidRouteKinds); routes attach only to the other listeners`);
          });
        }
        if (l.name !== undefined) {
          const prev = seenNames.get(l.name);
          if (prev !== undefined) cx.error(`${p}.name`, `Duplicate value: "${l.name}": listener names must be unique (also spec.listeners[${prev}])`);
          else seenNames.set(l.name, i);
        }
        // A hostname that failed its pattern is not "no hostname": no made-up conflict.
        const rawHost = (rl as Record<string, unknown>)['hostname'];
        if (l.port !== undefined && (rawHost === undefined || rawHost === null || l.hostname !== undefined)) {
          // The API server's rule is on port, protocol and hostname together.
          const addr = `${l.port}|${l.protocol}|${l.hostname ?? ''}`;
          const prev = seenAddr.get(addr);
          if (prev !== undefined) {
            cx.error(p, `listener conflicts with spec.listeners[${prev}]: same port ${l.port} and ${l.hostname ? `hostname ${l.hostname}` : 'no hostname'}`);
          } else seenAddr.set(addr, i);
        }
      }
      const schemaErrors = cx.errors - e0 - unsupportedErrors;
      if (l && cx.errors === e0 && !dropped) {
        // Unset or empty: the protocol's kinds (kgateway validateSupportedRoutes, as Gateway API says).
        const kindsOk = !l.allowedRoutes.kinds || l.allowedRoutes.kinds.length === 0 || l.allowedRoutes.kinds.some((k) => k.kind === 'HTTPRoute' && k.group === GATEWAY_API_GROUP);
        listeners.push({
          name: l.name,
          index: i,
          port: l.port,
          ...(l.hostname !== undefined ? { hostname: l.hostname } : {}),
          allowedFrom: l.allowedRoutes.namespaces.from === 'All' ? 'All' : 'Same',
          allowsHTTPRoute: kindsOk,
        });
      } else {
        invalidListeners.push(l?.name ?? `#${i}`);
        if (schemaErrors > 0) listenerSchemaError = true;
        else if (l && unsupported !== undefined) {
          failClosedListeners.push({ name: l.name, index: i, port: l.port, ...(l.hostname !== undefined ? { hostname: l.hostname } : {}), reason: `listener ${l.name}: ${unsupported}` });
        }
      }
    });
  }
  return {
    ...modelBase(raw, cx, problems, before),
    listeners,
    invalidListeners,
    failClosedListeners,
    allowedListeners: spec?.allowedListeners?.namespaces?.from ?? 'None',
    // A listener the API server refuses makes it refuse the whole Gateway.
    valid: gatewayErrors === 0 && !listError && !listenerSchemaError && listeners.length > 0,
    ...(refused !== undefined ? { refused } : {}),
  };
}
