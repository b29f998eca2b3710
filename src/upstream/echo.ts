// A bundled httpbin-style upstream on node:http, used by `npm start`, the tests and the
// benchmarks. It mirrors go-httpbin (the httpbin the kgateway docs use): header names in Go's
// canonical case with every value as an array, sorted keys, the same route names. It records
// what it received (bounded) so tests can assert what reached the upstream. It is not a full
// httpbin: no auth, redirect, cookie, image or compression routes.
//
//   node dist/src/upstream/echo.js [--host 127.0.0.1] [--port 9000]   prints the bound port

import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StartupError } from '../errors.js';

/** One request as the echo upstream received it. */
export interface RecordedRequest {
  /** 1, 2, … in arrival order. */
  readonly id: number;
  readonly method: string;
  /** Request target as received (`/anything?a=1`). */
  readonly url: string;
  /** Header pairs as received (original case, order, repeats): `[name0, value0, …]`. */
  readonly headers: string[];
  /** Body bytes received so far (final once `completed` or `aborted`). */
  bodyLength: number;
  /** Which accepted TCP connection carried it (1, 2, …). */
  readonly connectionId: number;
  /** The response was sent completely. */
  completed: boolean;
  /** The connection closed before the response was complete (the proxy cancelled it). */
  aborted: boolean;
}

export interface EchoUpstream {
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  /** The last MAX_RECORDED requests, oldest first (the same array across clear()). */
  readonly received: RecordedRequest[];
  /** TCP connections accepted since start (or the last clear()). */
  readonly connections: number;
  /** Emits `request` (RecordedRequest) on arrival and `end` (RecordedRequest) when completed or aborted. */
  readonly events: EventEmitter;
  clear(): void;
  close(): Promise<void>;
}

const MAX_RECORDED = 1000;
/** /delay/:ms is capped at this. */
const MAX_DELAY_MS = 10_000;
/** /bytes/:n and /stream-bytes/:n are capped at this. */
const MAX_BYTES = 10 * 1024 * 1024;
/** /stream/:n is capped at this (go-httpbin's cap). */
const MAX_STREAM_LINES = 100;
/** Request bodies larger than this are counted but not kept for /anything's `data`. */
const MAX_KEPT_BODY = 1024 * 1024;

// --- /bytes pattern: deterministic so tests can check integrity and order ---

/** Period of the /bytes pattern: a prime, so misplaced 64 KiB chunks do not line up. */
const PATTERN_PERIOD = 65521;
const CHUNK = 64 * 1024;
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(PATTERN_PERIOD + CHUNK);
  for (let i = 0; i < b.length; i++) b[i] = Math.imul(i % PATTERN_PERIOD, 0x9e3779b1) >>> 24;
  return b;
})();

/** The `n` bytes GET /bytes/:n answers with. */
export function patternBytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let off = 0; off < n; off += CHUNK) PATTERN.copy(out, off, off % PATTERN_PERIOD, (off % PATTERN_PERIOD) + Math.min(CHUNK, n - off));
  return out;
}

/**
 * Go's textproto.CanonicalMIMEHeaderKey: first letter and every letter after `-` upper case,
 * the rest lower case (`x-forwarded-for` -> `X-Forwarded-For`); names with a character that is
 * not an HTTP token character are returned unchanged.
 */
export function canonicalHeaderKey(name: string): string {
  let out = '';
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!isTokenChar(c)) return name;
    let ch = name[i]!;
    if (upper && c >= 0x61 && c <= 0x7a) ch = String.fromCharCode(c - 32);
    else if (!upper && c >= 0x41 && c <= 0x5a) ch = String.fromCharCode(c + 32);
    out += ch;
    upper = c === 0x2d;
  }
  return out;
}

function isTokenChar(c: number): boolean {
  // RFC 9110 tchar
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e
  );
}

/** node:http decodes header bytes as latin1; upstream JSON shows them as the UTF-8 text they are. */
function headerText(latin1: string): string {
  return /[^\x00-\x7f]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

/** go-httpbin's header map: canonical names, arrays of values, sorted keys, `Host` from the request. */
function headerMap(raw: readonly string[]): Record<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) addValue(map, canonicalHeaderKey(raw[i]!), headerText(raw[i + 1]!));
  // Go's server moves Host out of the header map; go-httpbin puts it back as a single value.
  const host = map.get('Host');
  if (host && host.length > 1) map.set('Host', [host[0]!]);
  return sortedRecord(map);
}

function argsMap(search: URLSearchParams): Record<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [k, v] of search) addValue(map, k, v);
  return sortedRecord(map);
}

function addValue(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** A multi-value map as a JSON object with sorted keys (Go's encoding/json map order). */
function sortedRecord(map: ReadonlyMap<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of [...map.keys()].sort()) out[key] = map.get(key)!;
  return out;
}

function firstHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

interface RequestInfo {
  url: URL;
  headers: Record<string, string[]>;
  args: Record<string, string[]>;
  origin: string;
  fullUrl: string;
}

function requestInfo(req: http.IncomingMessage): RequestInfo {
  const raw = req.rawHeaders;
  const host = firstHeader(raw, 'host') ?? 'localhost';
  const proto = firstHeader(raw, 'x-forwarded-proto')?.split(',')[0]?.trim() || 'http';
  // The path and query only: a Host the URL parser refuses (empty, `a:1:2`) must not throw here,
  // in the gateway's own process (npm start runs the echo upstream in it).
  const url = new URL(req.url ?? '/', 'http://echo.invalid');
  // go-httpbin reports the first X-Forwarded-For entry as the origin.
  const xff = firstHeader(raw, 'x-forwarded-for');
  const origin = xff ? xff.split(',')[0]!.trim() : (req.socket.remoteAddress ?? '');
  return { url, headers: headerMap(raw), args: argsMap(url.searchParams), origin, fullUrl: `${proto}://${host}${req.url ?? '/'}` };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Integer path parameter, or undefined. */
function intParam(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,9}$/.test(s)) return undefined;
  return Number(s);
}

/** A /drip duration: seconds (`1.5`) or with a unit (`500ms`, `2s`), as go-httpbin reads them; undefined when invalid. */
function dripDuration(v: string | null, defaultMs: number): number | undefined {
  if (v === null) return defaultMs;
  const m = /^(\d{1,5}(?:\.\d{1,3})?)(ms|s)?$/.exec(v);
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000));
}

/** /drip: after `delayMs`, `n` bytes in steps of at least 10 ms spread over `durationMs`. */
function drip(res: http.ServerResponse, code: number, n: number, durationMs: number, delayMs: number): void {
  const steps = Math.max(1, Math.min(n, Math.floor(durationMs / 10)));
  const stepMs = durationMs / steps;
  let sent = 0;
  let step = 0;
  let timer: NodeJS.Timeout | undefined;
  const next = (): void => {
    step++;
    const upTo = Math.round((n * step) / steps);
    res.write(Buffer.alloc(upTo - sent, '*'));
    sent = upTo;
    if (step === steps) res.end();
    else timer = setTimeout(next, stepMs);
  };
  timer = setTimeout(() => {
    res.writeHead(code, { 'content-type': 'application/octet-stream', 'content-length': n });
    timer = setTimeout(next, stepMs);
  }, delayMs);
  res.on('close', () => clearTimeout(timer));
}

/** Writes `n` pattern bytes with backpressure; `chunked`: without content-length (Transfer-Encoding: chunked). */
function writeBytes(res: http.ServerResponse, n: number, chunked = false): void {
  res.writeHead(200, chunked ? { 'content-type': 'application/octet-stream' } : { 'content-type': 'application/octet-stream', 'content-length': n });
  let off = 0;
  const pump = (): void => {
    while (off < n) {
      const len = Math.min(CHUNK, n - off);
      const start = off % PATTERN_PERIOD;
      const ok = res.write(PATTERN.subarray(start, start + len));
      off += len;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** Starts the echo upstream; `port` 0 (default) picks a free port, `host` defaults to 127.0.0.1. */
export async function startEchoUpstream(opts: { host?: string; port?: number } = {}): Promise<EchoUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const received: RecordedRequest[] = [];
  const events = new EventEmitter();
  const connIds = new WeakMap<Socket, number>();
  let connections = 0;
  let nextId = 0;

  const server = http.createServer({ keepAlive: true, requestTimeout: 0 }, (req, res) => {
    const rec: RecordedRequest = {
      id: ++nextId,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.rawHeaders.slice(),
      bodyLength: 0,
      connectionId: connIds.get(req.socket) ?? 0,
      completed: false,
      aborted: false,
    };
    received.push(rec);
    if (received.length > MAX_RECORDED) received.shift();
    res.on('close', () => {
      if (res.writableFinished) rec.completed = true;
      else rec.aborted = true;
      events.emit('end', rec);
    });
    events.emit('request', rec);

    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (req.method === 'POST' && path === '/echo') {
      echoBody(req, res, rec);
      return;
    }
    const kept: Buffer[] = [];
    let keptBytes = 0;
    req.on('data', (chunk: Buffer) => {
      rec.bodyLength += chunk.length;
      if (keptBytes + chunk.length <= MAX_KEPT_BODY) {
        kept.push(chunk);
        keptBytes += chunk.length;
      }
    });
    req.on('end', () => {
      // The echo upstream runs in the gateway's process under `npm start`: a request it cannot
      // read (a target the URL parser refuses) is a 400, never an uncaught exception.
      try {
        route(req, res, path, Buffer.concat(kept));
      } catch {
        if (!res.headersSent) sendText(res, 400, 'bad request\n');
        else res.destroy();
      }
    });
  });
  // Keep idle upstream connections longer than the gateway's pools do, so the gateway is the
  // side that closes them (no reset races on reuse).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.on('connection', (socket: Socket) => {
    connIds.set(socket, ++connections);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new StartupError(`cannot start the echo upstream on ${host}:${opts.port ?? 0}: ${err.message}`));
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    port,
    url: `http://${urlHost}:${port}`,
    received,
    get connections() {
      return connections;
    },
    events,
    clear() {
      received.length = 0;
      connections = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function echoBody(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest): void {
  const headers: http.OutgoingHttpHeaders = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' };
  if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
  res.writeHead(200, headers);
  req.on('data', (chunk: Buffer) => {
    rec.bodyLength += chunk.length;
    if (!res.write(chunk)) req.pause();
  });
  res.on('drain', () => req.resume());
  req.on('end', () => res.end());
}

function route(req: http.IncomingMessage, res: http.ServerResponse, path: string, body: Buffer): void {
  const method = req.method ?? 'GET';
  const parts = path.split('/');
  const head = parts[1] ?? '';
  switch (head) {
    case 'headers':
      if (parts.length !== 2) break;
      sendJson(res, 200, { headers: requestInfo(req).headers });
      return;
    case 'get': {
      if (parts.length !== 2) break;
      if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed\n');
      const info = requestInfo(req);
      sendJson(res, 200, { args: info.args, headers: info.headers, origin: info.origin, url: info.fullUrl });
      return;
    }
    case 'anything': {
      const info = requestInfo(req);
      const contentType = (req.headers['content-type'] ?? '').toLowerCase();
      const data = body.toString('utf8');
      let json: unknown = null;
      if (contentType.includes('json') && data !== '') {
        try {
          json = JSON.parse(data);
        } catch {
          json = null;
        }
      }
      const form = contentType.startsWith('application/x-www-form-urlencoded') ? argsMap(new URLSearchParams(data)) : {};
      sendJson(res, 200, { args: info.args, data, files: {}, form, headers: info.headers, json, method, origin: info.origin, url: info.fullUrl });
      return;
    }
    case 'status': {
      const code = intParam(parts[2]);
      if (parts.length !== 3 || code === undefined || code < 200 || code > 599) return sendText(res, 400, 'invalid status code\n');
      if (code >= 300 && code < 400) res.setHeader('location', '/redirect/1');
      res.writeHead(code, { 'content-length': 0 });
      res.end();
      return;
    }
    case 'delay': {
      const ms = intParam(parts[2]);
      if (parts.length !== 3 || ms === undefined) return sendText(res, 400, 'invalid delay\n');
      const delayMs = Math.min(ms, MAX_DELAY_MS);
      const timer = setTimeout(() => {
        const info = requestInfo(req);
        sendJson(res, 200, { args: info.args, headers: info.headers, origin: info.origin, url: info.fullUrl, delayMs });
      }, delayMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'stream': {
      const n = intParam(parts[2]);
      if (parts.length !== 3 || n === undefined) return sendText(res, 400, 'invalid count\n');
      const info = requestInfo(req);
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < Math.min(n, MAX_STREAM_LINES); i++) {
        res.write(`${JSON.stringify({ id: i, args: info.args, headers: info.headers, origin: info.origin, url: info.fullUrl })}\n`);
      }
      res.end();
      return;
    }
    case 'drip': {
      // go-httpbin's /drip: `numbytes` bytes of `*` spread over `duration` after `delay`, with
      // status `code` and their Content-Length (a slow download, for timeouts that bound a whole response).
      if (parts.length !== 2) break;
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const durationMs = dripDuration(q.get('duration'), 2000);
      const delayMs = dripDuration(q.get('delay'), 2000);
      const numBytes = q.has('numbytes') ? intParam(q.get('numbytes')!) : 10;
      const code = q.has('code') ? intParam(q.get('code')!) : 200;
      if (durationMs === undefined || delayMs === undefined || durationMs + delayMs > MAX_DELAY_MS) return sendText(res, 400, 'invalid duration or delay\n');
      if (numBytes === undefined || numBytes < 1 || numBytes > MAX_BYTES) return sendText(res, 400, 'invalid numbytes\n');
      if (code === undefined || code < 200 || code > 599) return sendText(res, 400, 'invalid code\n');
      drip(res, code, numBytes, durationMs, delayMs);
      return;
    }
    case 'bytes':
    case 'stream-bytes': {
      // go-httpbin's /stream-bytes streams random bytes chunked; here the /bytes pattern, so tests can check it.
      const n = intParam(parts[2]);
      if (parts.length !== 3 || n === undefined) return sendText(res, 400, 'invalid count\n');
      writeBytes(res, Math.min(n, MAX_BYTES), head === 'stream-bytes');
      return;
    }
    case 'response-headers': {
      // go-httpbin: every query parameter becomes a response header (repeats kept). Values are
      // written as their UTF-8 bytes.
      const url = new URL(req.url ?? '/', 'http://x');
      const headers: string[] = [];
      for (const [k, v] of url.searchParams) headers.push(k, Buffer.from(v, 'utf8').toString('latin1'));
      try {
        res.writeHead(200, [...headers, 'content-type', 'application/json; charset=utf-8', 'content-length', '3']);
      } catch {
        return sendText(res, 400, 'invalid header\n');
      }
      // A Buffer body makes node:http write the head on its own as latin1 (a string body would
      // re-encode the head as UTF-8 with it), so the header bytes are exactly the UTF-8 above.
      res.end(Buffer.from('{}\n'));
      return;
    }
  }
  sendText(res, 404, '404 page not found\n');
}

async function main(argv: string[]): Promise<void> {
  let host = '127.0.0.1';
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') port = Number(argv[++i]);
    else if (a === '--host') host = argv[++i] ?? host;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/src/upstream/echo.js [--host 127.0.0.1] [--port 0]\n');
      return;
    } else {
      process.stderr.write(`unknown argument ${a}\n`);
      process.exitCode = 2;
      return;
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('--port must be an integer 0-65535\n');
    process.exitCode = 2;
    return;
  }
  const echo = await startEchoUpstream({ host, port });
  // stdout carries only the port (scripts read it); the human line goes to stderr.
  process.stdout.write(`${echo.port}\n`);
  process.stderr.write(`echo upstream listening on ${echo.url}\n`);
  const stop = (): void => {
    void echo.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`echo upstream: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
