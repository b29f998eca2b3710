// Maps what undici reports when an upstream exchange fails to the catalogue code the client
// gets (src/errors.ts), the way Envoy's router turns a reset reason into a local reply:
// connect failure / reset / DNS -> 503, route timeout -> 504, not HTTP -> 502. It does not send
// anything; the forwarder decides between a local reply (before the response head) and closing
// the client connection (after it).

import { UPSTREAM_RESET, type ErrorCode } from '../errors.js';

export type UpstreamErrorCode = Extract<ErrorCode, 'UPSTREAM_UNAVAILABLE' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_BAD_RESPONSE' | 'INTERNAL'>;

/** An error's `code` property (undici and Node system errors), if any. */
function codeOf(err: unknown): unknown {
  return err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
}

/** A lookup or connect error that says the host name does not exist (not a temporary failure such as EAI_AGAIN). */
export function nameDoesNotResolve(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EAI_FAIL';
}

/** Short machine-readable reason for logs (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, `HPE_INVALID_CONSTANT`). */
export function upstreamErrorReason(err: unknown): string {
  const code = codeOf(err);
  if (typeof code === 'string' && code !== '') return code;
  const name = err !== null && typeof err === 'object' ? (err as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : 'unknown';
}

export function classifyUpstreamError(err: unknown): UpstreamErrorCode {
  const code = codeOf(err);
  switch (code) {
    // headersTimeout before the response head, bodyTimeout (idle) after it.
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'UPSTREAM_TIMEOUT';
    // Envoy reports a connect timeout as a connection failure (503, `UF` flag), not a 504.
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'UPSTREAM_UNAVAILABLE';
    // Not valid HTTP, or HTTP we must not pass on.
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return 'UPSTREAM_BAD_RESPONSE';
    case 'UND_ERR_SOCKET': {
      // undici uses SocketError both for "other side closed" (a reset: 503) and for protocol
      // violations it detects itself: a 100 we did not ask for, a 101 we did not ask for.
      const message = (err as { message?: unknown }).message;
      return message === 'bad response' || message === 'bad upgrade' ? 'UPSTREAM_BAD_RESPONSE' : 'UPSTREAM_UNAVAILABLE';
    }
    // The request could not be expressed (a header value undici refuses, a path it rejects):
    // our bug or an input the HTTP layer should have rejected, not the upstream's fault.
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      return 'INTERNAL';
  }
  // llhttp parse errors: HTTPParserError, with an HPE_* code when undici knows the llhttp error
  // name (HPE_INVALID_CONSTANT, HPE_INVALID_HEADER_TOKEN, …) and without one otherwise.
  if (typeof code === 'string' && code.startsWith('HPE_')) return 'UPSTREAM_BAD_RESPONSE';
  if ((err as { name?: unknown } | null)?.name === 'HTTPParserError') return 'UPSTREAM_BAD_RESPONSE';
  // ECONNREFUSED, ECONNRESET, EPIPE, ENOTFOUND, EAI_AGAIN, EHOSTUNREACH, ENETUNREACH, closed or
  // destroyed pools, anything unknown: the upstream is not reachable. A connect this host could
  // not make (EMFILE, EADDRNOTAVAIL, …: localConnectFailure) too, as Envoy answers it: 503.
  return 'UPSTREAM_UNAVAILABLE';
}

/** strerror(3) text of the connect errors, as Envoy writes a transport failure reason. */
const CONNECT_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ETIMEDOUT: 'Connection timed out',
};

/** A connect that failed on this host, for want of a local resource: the upstream was never reached. */
export interface LocalConnectFailure {
  /** strerror(3) text, as Envoy writes a transport failure reason. */
  readonly text: string;
  /**
   * Where Envoy's connection fails: creating the socket (a local close: `local connection
   * failure, transport failure reason: socket creation failure`) or in connect(2) itself (`remote
   * connection failure, transport failure reason: immediate connect error: …`).
   */
  readonly at: 'socket' | 'connect';
  /** What the operator can do, for the warning. */
  readonly hint: string;
}

/**
 * Node reports these from its connect (`err.code`, `err.syscall === 'connect'`, not wrapped by
 * undici): libuv creates the socket there, so a full fd table is a connect EMFILE. They are not
 * the upstream closing the connection, which is what the catalogue's `connection termination`
 * body would say.
 */
const LOCAL_CONNECT_FAILURES: Readonly<Record<string, LocalConnectFailure>> = {
  EMFILE: { text: 'Too many open files', at: 'socket', hint: "the process is at its file-descriptor limit: raise it (ulimit -n, or LimitNOFILE= under systemd) well above the connections you expect" },
  ENFILE: { text: 'Too many open files in system', at: 'socket', hint: "the system's file table is full: raise fs.file-max (sysctl), and the process's limit (ulimit -n, LimitNOFILE=) with it" },
  ENOBUFS: { text: 'No buffer space available', at: 'socket', hint: 'the kernel is out of memory for sockets' },
  ENOMEM: { text: 'Cannot allocate memory', at: 'socket', hint: 'the kernel is out of memory for sockets' },
  EADDRNOTAVAIL: { text: 'Cannot assign requested address', at: 'connect', hint: 'no local port is free for a new connection to the endpoint (ephemeral ports exhausted, often by connections in TIME_WAIT): widen net.ipv4.ip_local_port_range' },
};

/** The local failure a connect error code (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, `EADDRNOTAVAIL`) stands for, if it is one. */
export function localConnectFailure(code: unknown): LocalConnectFailure | undefined {
  return typeof code === 'string' && Object.hasOwn(LOCAL_CONNECT_FAILURES, code) ? LOCAL_CONNECT_FAILURES[code] : undefined;
}

/** Envoy's body when a backend has no address to connect to (no endpoints, a name that does not resolve). */
export const NO_HEALTHY_UPSTREAM = 'no healthy upstream';

/**
 * The body Envoy's router writes for an UPSTREAM_UNAVAILABLE failure other than a closed or reset
 * connection (the catalogue's `reset reason: connection termination`), or undefined for that one.
 */
export function upstreamUnavailableBody(err: unknown): string | undefined {
  const code = codeOf(err);
  if (typeof code !== 'string') return undefined;
  const text = CONNECT_ERRORS[code];
  if (text !== undefined) return `${UPSTREAM_RESET}remote connection failure, transport failure reason: delayed connect error: ${text}`;
  const local = localConnectFailure(code);
  if (local !== undefined) {
    // Envoy names no cause for a socket it could not create; the errno's text is added here, as
    // Envoy adds it to a bind failure (`failed to bind to …: <error>`). Newer Envoys append
    // `|remote address:IP:port` to an immediate connect error: left out, as from every other
    // body here (clients are not told the upstream's internal address).
    if (local.at === 'socket') return `${UPSTREAM_RESET}local connection failure, transport failure reason: socket creation failure: ${local.text}`;
    return `${UPSTREAM_RESET}remote connection failure, transport failure reason: immediate connect error: ${local.text}`;
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return `${UPSTREAM_RESET}connection timeout`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_FAIL') return NO_HEALTHY_UPSTREAM;
  return undefined;
}

