// Request mirroring (the HTTPRoute `RequestMirror` filter), as kgateway writes Envoy's route
// `request_mirror_policies` and Envoy's router shadows requests: which requests are mirrored
// (one draw per request for every mirror of the route), and the shadow's Host. The forwarder
// sends the copies (forwarder.ts); this module only decides.

import type { BackendTarget } from '../config/snapshot.js';

/** One mirror of a route: where copies go and how many (numerator / denominator of requests). */
export interface RouteMirror {
  /** The mirror backend, resolved as a backendRef is. */
  readonly target: BackendTarget;
  /** Envoy's runtime_fraction: `percent` as n/100, `fraction` as ⌊n/d × 10⁶⌋/10⁶ (kgateway's). */
  readonly numerator: number;
  readonly denominator: 100 | 1_000_000;
}

/** A route's mirrors share one draw per request (Envoy's stable random, the stream id). */
export function mirrorDraw(random: number): number {
  return Math.floor(random * 1_000_000);
}

/** Whether `m` mirrors the request of this draw (Envoy's featureEnabled: draw % denominator < numerator). */
export function mirrors(m: RouteMirror, draw: number): boolean {
  return draw % m.denominator < m.numerator;
}

/**
 * The shadow's Host, as Envoy writes it: `-shadow` after the host name, before a port
 * (`api.example.com:8080` -> `api.example.com-shadow:8080`, `[::1]:80` -> `[::1]-shadow:80`).
 */
export function shadowHost(host: string): string {
  const colon = host.lastIndexOf(':');
  const port = colon > host.lastIndexOf(']') ? colon : -1;
  return port < 0 ? `${host}-shadow` : `${host.slice(0, port)}-shadow${host.slice(port)}`;
}

/**
 * How a mirrored copy ended: `sent` (the mirror backend answered, whatever its status), `failed`
 * (no answer: refused, reset, timed out), `overflow` (not sent: the mirror's endpoint had
 * `maxPending` requests waiting, or the backend no address), `abandoned` (cut: the request body
 * outgrew what is buffered for a mirror, or the request ended before its body did).
 */
export type MirrorResult = 'sent' | 'failed' | 'overflow' | 'abandoned';
export const MIRROR_RESULTS: readonly MirrorResult[] = ['sent', 'failed', 'overflow', 'abandoned'];
