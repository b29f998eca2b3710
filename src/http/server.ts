// The only code that touches uWebSockets.js request/response objects. Each port gets one uWS
// App; the handler copies what the gateway needs synchronously (uWS HttpRequest objects die
// when the callback returns), enforces the header limits, and wraps the HttpResponse in a
// ClientExchange (body in with pause/resume, response out with backpressure, abort tracking).
// It does no routing or auth itself: it hands (port, request, exchange) to the gateway.

import type { HeaderOp } from '../proxy/header-mutation.js';
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { loadUws } from './uws.js';
import { removeNominatedFields } from './connection-header.js';
import type { ClientExchange, GatewayRequest } from './exchange.js';
import { StartupError, type ErrorCode } from '../errors.js';

export interface HttpServerOptions {
  /** Address to bind every listener to (default `0.0.0.0`). */
  host: string;
  /**
   * Total request header bytes (names + values + 4 per line) above which the request gets 431
   * (Envoy's default `max_request_headers_kb` is 60 KiB).
   */
  maxRequestHeadersBytes: number;
}

export type RequestHandler = (port: number, req: GatewayRequest, exchange: ClientExchange) => void;
/** `method`, `host` (without port) and `path` (the query left out) for the access log. */
export type OversizeHandler = (port: number, exchange: ClientExchange, headerBytes: number, method: string, host: string, path: string) => void;

const STATUS_LINES: string[] = [];
function statusLine(status: number): string {
  return (STATUS_LINES[status] ??= `${status} ${STATUS_CODES[status] ?? 'Unknown'}`);
}

/** Response headers uWS writes itself (framing): never copied from upstream. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'date']);

/**
 * Ends a response that has no body (HEAD, 204, 304), with `Content-Length: length` when length
 * ≥ 0. uWS 20.30's `endWithoutBody(length)` leaves the response unfinished (it waits for
 * `length` bytes that never come): the connection is then dropped at the client's next request,
 * and an answer given inside the request handler aborts the process. So the header is written
 * here and `endWithoutBody()` called without one. Call inside a cork.
 */
function endBodyless(res: HttpResponse, length: number): void {
  if (length >= 0) res.writeHeader('content-length', String(length));
  res.endWithoutBody();
}

const EMPTY = Buffer.alloc(0);

const V4_MAPPED = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * The client address as Envoy writes it: uWS gives an IPv6 peer in full
 * (`0000:…:0001`) and an IPv4 client of a dual-stack listener (`--host ::`) as v4-mapped; Envoy
 * sends `::1` and `127.0.0.1` (inet_ntop, v4-mapped peers as IPv4).
 */
export function clientAddress(text: string): string {
  if (!text.includes(':')) return text;
  const m = V4_MAPPED.exec(text);
  if (m) {
    const hi = parseInt(m[1]!, 16);
    const lo = parseInt(m[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text;
  }
}

/** uWS.js ListenOptions: no SO_REUSEPORT. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** uWS.js takes listen options after the port also with a host (its typings omit this form). */
interface ListenWithOptions {
  listen(host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void): void;
}

/** A character nghttp2's authority check (Envoy's HeaderUtility::authorityIsValid) refuses. */
const NOT_AUTHORITY = /[^A-Za-z0-9!$&'()*+,\-.:;=@[\]_~%]/;
/** A `close` token in a Connection field value. */
const CLOSE_TOKEN = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;

/**
 * The copied request. `remoteAddress` is read from uWS on first use only: the native call costs
 * ~1.3 µs (it allocates an ArrayBuffer), and requests answered by the gateway itself (401s,
 * direct responses, 404s) never need it; proxied ones read it once for x-forwarded-for.
 */
class UwsRequest implements GatewayRequest {
  readonly scheme = 'http';
  invalid: ErrorCode | undefined = undefined;
  queryAsEnvoy: string | undefined = undefined;
  gatewayHeaders: readonly string[] | undefined = undefined;
  upstreamPath: string | undefined = undefined;
  sentHeaders: readonly string[] | undefined = undefined;
  heldBodyBytes: number | undefined = undefined;
  corsOps: readonly HeaderOp[] | undefined = undefined;
  clearRouteCache = false;
  private address: string | undefined;
  constructor(
    public method: string,
    public path: string,
    public query: string,
    public host: string,
    public authority: string,
    public headers: string[],
    private readonly exchange: UwsExchange,
  ) {}

  get remoteAddress(): string {
    return (this.address ??= this.exchange.remoteAddress());
  }
}

class UwsExchange implements ClientExchange {
  readonly startedAt = performance.now();
  abortedAt: number | undefined = undefined;
  readonly hasBody: boolean;
  readonly contentLength: number;
  done = false;
  private readonly res: HttpResponse;
  private abortCb: (() => void) | undefined;
  private bodyCb: ((chunk: Buffer, isLast: boolean) => void) | undefined;
  private buffered: Buffer[] | undefined;
  private bufferedBytes = 0;
  private bufferedLast = false;
  private paused = false;
  private userPaused = false;
  private drainCb: (() => void) | undefined;
  // streamed response state
  private fixedLength = -1;
  private pending: Buffer | undefined;
  private pendingOffset = 0;
  private readonly headOnly: boolean;
  /** Set for a request whose framing cannot be trusted: the connection closes after the answer. */
  closeAfterResponse = false;
  /** The client asked to close (`close` in its Connection): closed after a local answer. */
  clientClose = false;
  /** uWS closes after the answer itself: the first Connection field is `close` (any case). */
  uwsCloses = false;
  /** Set once the response is ending: body chunks that still arrive are dropped. */
  private discardBody = false;
  /** The last body chunk has arrived (or there is no body). */
  private bodyEnded: boolean;
  /** Still inside uWS's request callback (until armAbort). */
  private inHandler = true;
  /** When a body chunk last re-armed uWS's idle timer. */
  private lastProgressMs = 0;
  /** bufferBody: the limit (-1: not holding) and whom to tell. */
  private holdLimit = -1;
  private holdComplete: ((bytes: number) => void) | undefined;
  private holdTooLarge: (() => void) | undefined;
  /** peekBody: how many bytes (-1: not peeking) and whom to tell. */
  private peekLimit = -1;
  private peekReady: ((first: Buffer, complete: boolean) => void) | undefined;

  constructor(res: HttpResponse, hasBody: boolean, contentLength: number, headOnly: boolean, private readonly drain: DrainState) {
    this.res = res;
    this.hasBody = hasBody;
    this.contentLength = contentLength;
    this.headOnly = headOnly;
    this.bodyEnded = !hasBody;
    if (hasBody) {
      res.onData((ab, isLast) => this.onData(ab, isLast));
    }
  }

  /** The exchange is over (answered, or the client left): once. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.drain.active--;
    // A finished exchange lets go of what its callbacks reach (the proxy exchange, the request and
    // its headers, a request body's stream). V8's scavenges keep whatever an old object points
    // at, dead or not, and something old still pointed at finished exchanges: holding on made
    // every proxied request's objects copied and promoted, ~0.6 MB per scavenge under load and ~5%
    // more CPU per request (bench/tools/gc-survival.mjs). None is called once done (onWritable's
    // last drain call uses its own copy), except a body reader while the upload goes on: that one
    // is dropped after the last chunk (onData).
    this.abortCb = undefined;
    this.drainCb = undefined;
    if (this.bodyEnded) this.bodyCb = undefined;
  }

  /**
   * Registers the abort handler uWS requires before its request callback returns without a
   * complete response. Called at the end of that callback: a response already finished there
   * (401s, direct responses) skips the registration (~150 ns per request).
   */
  armAbort(): void {
    this.inHandler = false;
    if (this.done) return;
    this.res.onAborted(() => {
      if (this.done) return;
      const cb = this.abortCb;
      this.finish();
      this.abortedAt = performance.now();
      if (cb) cb();
    });
  }

  /** The client's address as text; '' once the exchange is over (uWS has freed the response). */
  remoteAddress(): string {
    if (this.done) return '';
    return clientAddress(Buffer.from(this.res.getRemoteAddressAsText()).toString());
  }

  private onData(ab: ArrayBuffer, isLast: boolean): void {
    if (isLast) {
      this.bodyEnded = true;
      // The upload an early answer waited for is all read: answer on the next turn (see respond).
      if (this.linger !== undefined) setImmediate(this.linger);
    }
    if (this.discardBody) return;
    // uWS restarts its 10 s idle timer only after ~16 KB of body, so a slower upload was cut after
    // 10 s with no answer. Any data is progress (Envoy's stream idle timeout is reset by every
    // chunk): pause+resume re-arms the timer, at most once a second.
    if (!isLast && !this.paused && !this.done) {
      const now = Date.now();
      if (now - this.lastProgressMs >= 1000) {
        this.lastProgressMs = now;
        this.res.pause();
        this.res.resume();
      }
    }
    // Answered before the body was read (a 401 to an upload): nobody will read it. uWS 20.30 stops
    // delivering it after the reply (tested); should a build not, it is dropped, never buffered.
    if (this.done && !this.bodyCb) return;
    // uWS neuters the ArrayBuffer when this callback returns: copy it.
    const chunk = ab.byteLength === 0 ? EMPTY : Buffer.from(ab.slice(0));
    if (this.bodyCb) {
      this.bodyCb(chunk, isLast);
      // Nothing follows the last chunk: a finished exchange lets go of its reader (see finish).
      if (isLast && this.done) this.bodyCb = undefined;
      return;
    }
    (this.buffered ??= []).push(chunk);
    this.bufferedBytes += chunk.length;
    this.bufferedLast = isLast;
    // Read whole (bufferBody): never paused; told once, when it is complete or over its limit.
    if (this.holdLimit >= 0) {
      this.checkHold();
      return;
    }
    // Its first bytes wanted (peekBody): not paused before they are in.
    if (this.peekLimit >= 0 && !this.checkPeek()) return;
    // Nobody reads yet (auth still running): stop reading past 64 KiB instead of buffering a
    // whole upload in memory.
    if (!isLast && this.bufferedBytes > 65536 && !this.paused && !this.done) {
      this.paused = true;
      this.res.pause();
    }
  }

  peekBody(limitBytes: number, ready: (first: Buffer, complete: boolean) => void): void {
    if (this.done || this.bodyCb !== undefined) return;
    this.peekLimit = limitBytes;
    this.peekReady = ready;
    if (this.checkPeek()) return;
    this.resumeOwnPause();
  }

  /** Ends a peek once its bytes are in (or the body is). True when it ended. */
  private checkPeek(): boolean {
    const limit = this.peekLimit;
    if (this.bufferedBytes < limit && !this.bodyEnded) return false;
    const ready = this.peekReady!;
    this.peekLimit = -1;
    this.peekReady = undefined;
    const all = this.heldBody();
    // Whole when nothing beyond the first `limit` bytes is held (Envoy marks the check partial
    // only when it holds more than it sends).
    ready(all.length > limit ? all.subarray(0, limit) : all, all.length <= limit);
    return true;
  }

  heldBody(): Buffer {
    const buf = this.buffered;
    return buf === undefined ? EMPTY : buf.length === 1 ? Buffer.from(buf[0]!) : Buffer.concat(buf);
  }

  bufferBody(limitBytes: number, complete: (bytes: number) => void, tooLarge: () => void): void {
    if (this.done || this.bodyCb !== undefined) return;
    this.holdLimit = limitBytes;
    this.holdComplete = complete;
    this.holdTooLarge = tooLarge;
    if (this.checkHold()) return;
    this.resumeOwnPause();
  }

  /** Ends a hold that is over: the body is complete, or past its limit. True when it ended. */
  private checkHold(): boolean {
    const over = this.bufferedBytes > this.holdLimit;
    if (!over && !this.bodyEnded) return false;
    const complete = this.holdComplete!;
    const tooLarge = this.holdTooLarge!;
    this.holdLimit = -1;
    this.holdComplete = this.holdTooLarge = undefined;
    if (over) {
      // Nobody will read it: dropped, and the rest with it (the answer closes the connection).
      this.buffered = undefined;
      this.bufferedBytes = 0;
      this.discardBody = true;
      tooLarge();
    } else complete(this.bufferedBytes);
    return true;
  }

  onBody(cb: (chunk: Buffer, isLast: boolean) => void): void {
    this.bodyCb = cb;
    const buf = this.buffered;
    if (buf) {
      this.buffered = undefined;
      for (let i = 0; i < buf.length; i++) cb(buf[i]!, this.bufferedLast && i === buf.length - 1);
    }
    this.resumeOwnPause();
  }

  /** Reads the upload again where only the 64 KiB buffering bound paused it (not pauseBody). */
  private resumeOwnPause(): void {
    if (this.paused && !this.userPaused && !this.done) {
      this.paused = false;
      this.res.resume();
    }
  }

  pauseBody(): void {
    this.userPaused = true;
    if (!this.paused && !this.done) {
      this.paused = true;
      this.res.pause();
    }
  }

  resumeBody(): void {
    this.userPaused = false;
    if (this.paused && !this.done) {
      this.paused = false;
      this.res.resume();
    }
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }

  respond(status: number, headers: readonly string[], body: string | Buffer): void {
    if (this.done) return;
    // An answer held back (below) still tells whoever waits on an abort.
    let abortCb = this.abortCb;
    this.finish();
    this.headHeaders = undefined;
    const res = this.res;
    // Answered inside the request callback, before any of the body was read (a 401 to an upload
    // without a token, a 404): the connection closes after the answer, as Envoy's HTTP/1 codec
    // does when it replies before the request is complete. Kept open, uWS 20.30 leaves it
    // without any idle timeout (tested), so a client could hold sockets forever with one small
    // request each. An answer given later (after a pooled check) reads and drops the rest of the
    // body and keeps the connection when the body ends within LINGER_MS (see `late` below).
    // Framing that cannot be trusted, or a body not read: the connection must close.
    const mustClose = this.closeAfterResponse || (this.inHandler && !this.bodyEnded);
    // Draining alone does not close here: the answer says Connection: close
    // (writeStatusAndHeaders) and the drain closes the connection at its end, so a request
    // pipelined behind this one is answered too (a close here would drop both).
    const close = mustClose || this.clientClose;
    // A HEAD answer goes out with endWithoutBody and the GET's Content-Length, which cannot close:
    // enough when uWS closes on its own (a lone `close` from the client) or nothing asks to.
    // Otherwise end('', true): uWS closes gracefully (after what it still holds for the client)
    // only through end(), which then says Content-Length: 0. (A head with the GET's length and a
    // res.close() after it lost answers still buffered for a client that pipelines and reads
    // slowly; endWithoutBody(n, true) never closes.)
    const headKeepsLength = !mustClose && (!this.clientClose || this.uwsCloses);
    // A later answer (after a pooled check) to an upload still arriving: uWS 20.30 turns its idle
    // timer off when the last body chunk arrives and re-arms it only when an answer ends after
    // that, so an answer written first left the kept connection with no idle timeout at all. It
    // waits for the rest of the upload as an early answer does: kept when the upload ends within
    // LINGER_MS, else sent with Connection: close (Envoy closes after a reply to an incomplete
    // request).
    const late = !this.inHandler && !this.bodyEnded && !close;
    // Written now unless it waits: an answer that closes from inside the request callback (below),
    // or a late one.
    const waits = late || (close && this.inHandler);
    if (!waits) return this.writeAnswer(status, headers, body, close, headKeepsLength);
    // uWS 20.30 parses the rest of what it read before it closes, and a request it finds there
    // resets the close: answered too, and the connection kept (a second Content-Length's body
    // would be served as a request). Answered on the next turn instead: a request already in the
    // buffer then makes uWS close the connection with neither answered (what it does to any
    // pipelined request while one is pending), and without one the answer goes out and the
    // connection closes.
    this.resumeBeforeEnd();
    let aborted = false;
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const answer = () => {
      if (answered) return;
      answered = true;
      this.linger = undefined;
      if (timer !== undefined) {
        clearTimeout(timer);
        this.drain.lingering--;
      }
      if (aborted) return;
      if (late && this.bodyEnded) this.writeAnswer(status, headers, body, false, headKeepsLength);
      else this.writeAnswer(status, headers, body, true, headKeepsLength && !late);
    };
    res.onAborted(() => {
      if (aborted) return;
      aborted = true;
      answer();
      const cb = this.abortCb ?? abortCb;
      this.abortCb = abortCb = undefined;
      if (cb) cb();
    });
    // An upload not read yet (a 401 or 404 before its body): uWS closes right after the answer,
    // with the unread upload making the kernel send a reset, so a client still writing its body
    // (Node's http, fetch) gets EPIPE or ECONNRESET instead of the 401 it could act on. As Envoy's
    // delayed close does, the rest of the body is read and dropped first, for at most LINGER_MS;
    // the answer then goes out and the connection closes. (uWS gives no handle to close a
    // connection after an answer has ended it, so the answer itself waits.)
    if (!this.bodyEnded && !this.closeAfterResponse) {
      this.linger = answer;
      this.drain.lingering++;
      timer = setTimeout(answer, LINGER_MS);
      return;
    }
    setImmediate(answer);
  }

  /** Set while an early answer waits for the rest of the upload (respond). */
  private linger: (() => void) | undefined;

  /** Writes a whole local answer (see respond). */
  private writeAnswer(status: number, headers: readonly string[], body: string | Buffer, close: boolean, headKeepsLength: boolean): void {
    const res = this.res;
    res.cork(() => {
      // end(…, true) writes uWS's own `Connection: close` (not twice), except to a client that sent
      // `close` itself: then the header is ours to write.
      this.writeStatusAndHeaders(status, headers, close, close && !this.uwsCloses && (!this.headOnly || !headKeepsLength));
      this.resumeBeforeEnd();
      if (!this.headOnly) res.end(body, close);
      else if (headKeepsLength) endBodyless(res, typeof body === 'string' ? Buffer.byteLength(body) : body.length);
      else res.end('', true);
    });
  }

  writeHead(status: number, headers: readonly string[]): void {
    if (this.done) return;
    let length = -1;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-length') {
        length = Number(headers[i + 1]);
        break;
      }
    }
    // 204/304 and HEAD carry no body: the length only describes the would-be entity.
    if (this.headOnly || status === 204 || status === 304) {
      this.fixedLength = -2;
      // A 204 never carries a Content-Length (RFC 9110 §8.6); a HEAD or 304 answer may.
      this.bodylessLength = status === 204 ? -1 : length;
    } else if (Number.isSafeInteger(length) && length >= 0) {
      this.fixedLength = length;
    }
    // The status line and headers are written with the first body chunk (or at the end), in
    // the same cork: one send() per small response instead of two.
    this.headStatus = status;
    this.headHeaders = headers;
  }

  /** uWS calls onWritable once the socket drains; registered on the first refused write only (~0.2 µs saved per response that fits). */
  private writableArmed = false;
  private armWritable(): void {
    if (this.writableArmed) return;
    this.writableArmed = true;
    this.res.onWritable((offset) => this.onWritable(offset));
  }

  private headStatus = 0;
  private headHeaders: readonly string[] | undefined;
  private bodylessLength = -1;

  /**
   * The response is about to end (its last bytes are being written): the rest of the request body
   * is of no use to anyone, so from now on it is dropped as it arrives, and a body this exchange
   * paused (auth still running, or a slow upstream) flows again, so uWS reads the upload to its
   * end instead of leaving the connection stalled until its idle timeout. Dropping matters when
   * the last bytes wait for a slow client: the resumed upload must not pile up in memory
   * meanwhile. Call inside the cork, before the call that may end the response: the
   * HttpResponse must not be touched after it has ended.
   */
  private resumeBeforeEnd(): void {
    this.discardBody = true;
    if (!this.paused) return;
    this.paused = false;
    this.res.resume();
  }

  /** The status line and headers of a writeHead() are on their way to the client. */
  headWritten = false;

  /** Writes the deferred status line and headers; call inside a cork. */
  private flushHead(): void {
    const headers = this.headHeaders;
    if (headers === undefined) return;
    this.headHeaders = undefined;
    this.headWritten = true;
    this.writeStatusAndHeaders(this.headStatus, headers);
  }

  /** Status line and headers, minus the framing ones uWS writes itself; call inside a cork. */
  private writeStatusAndHeaders(status: number, headers: readonly string[], closes = false, uwsWritesClose = false): void {
    const res = this.res;
    res.writeStatus(statusLine(status));
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (FRAMING.has(name)) continue;
      res.writeHeader(name, headers[i + 1]!);
    }
    // `Connection: close` on an answer that closes, to a client that asked to close, and while
    // draining, as Envoy's HCM does (RFC 9112 §9.6): while draining, requests stop arriving on
    // connections the stop will close (one already sent was lost at the close).
    if ((closes || this.clientClose || this.drain.draining) && !uwsWritesClose) res.writeHeader('connection', 'close');
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.fixedLength === -2) return true;
    this.chunk = chunk;
    // The cork callback is made on the first write only: most exchanges (local replies) never stream.
    this.res.cork((this.corkedWrite ??= () => this.writeCorked()));
    this.chunk = undefined;
    return this.writeOk;
  }

  private chunk: Buffer | undefined;
  private writeOk = true;
  private corkedWrite: (() => void) | undefined;
  private writeCorked(): void {
    const res = this.res;
    const chunk = this.chunk!;
    this.flushHead();
    if (this.fixedLength >= 0) {
      const offset = res.getWriteOffset();
      if (offset + chunk.length >= this.fixedLength) this.resumeBeforeEnd();
      const [written, finished] = res.tryEnd(chunk, this.fixedLength);
      this.writeOk = true;
      if (finished) {
        this.finish();
        return;
      }
      if (!written) {
        this.pending = chunk;
        this.pendingOffset = offset;
        this.writeOk = false;
        this.armWritable();
      }
      return;
    }
    this.writeOk = res.write(chunk);
    if (!this.writeOk) this.armWritable();
  }

  private onWritable(offset: number): boolean {
    if (this.done) return true;
    const pending = this.pending;
    if (pending) {
      if (this.pendingOffset + pending.length >= this.fixedLength) this.resumeBeforeEnd();
      const [written, finished] = this.res.tryEnd(pending.subarray(offset - this.pendingOffset), this.fixedLength);
      if (finished) {
        // Complete: still tell the writer, so it resumes the upstream and sees its end.
        const cb = this.drainCb;
        this.finish();
        this.pending = undefined;
        if (cb) cb();
        return true;
      }
      if (!written) return false;
      this.pending = undefined;
    }
    const cb = this.drainCb;
    if (cb) cb();
    return true;
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  end(): void {
    if (this.done) return;
    if (this.fixedLength > 0) {
      // A declared length that tryEnd has not completed: the upstream ended early, and the
      // client must not see a short body as complete.
      this.destroy();
      return;
    }
    this.finish();
    const res = this.res;
    res.cork(() => {
      this.flushHead();
      this.resumeBeforeEnd();
      if (this.fixedLength === -2) endBodyless(res, this.bodylessLength);
      // Never end(…, true) here: after a chunk uWS 20.30 writes its `Connection: close` header
      // into the chunked body. The head says Connection: close when draining; the client closes.
      else res.end();
    });
  }

  abortAfterHead(): void {
    if (this.done) return;
    if (!this.headWritten && this.headHeaders !== undefined && this.fixedLength > 0) {
      // The head with its Content-Length and no body: the client sees a cut body, as from Envoy.
      // (A head without a length cannot be finished before a first chunk with uWS 20.30.)
      const len = this.fixedLength;
      this.res.cork(() => {
        this.flushHead();
        this.res.tryEnd('', len);
      });
    }
    this.destroy();
  }

  destroy(): void {
    this.finish();
    this.abortCb = undefined;
    try {
      this.res.close();
    } catch {
      // already closed
    }
  }
}

/** Shared by a server and its exchanges: set when the server stops accepting (a drain). */
interface DrainState {
  draining: boolean;
  /** Requests received so far: the drain waits until none has come for a while. */
  requests: number;
  /** Exchanges not over yet (answering, proxying, checking a token): a removed listener's drain waits for them. */
  active: number;
  /** Early answers waiting for the rest of their upload (see UwsExchange.respond): the drain waits for them too. */
  lingering: number;
}

/**
 * How long an answer given before its upload was read waits for the rest of it (Envoy's
 * `delayed_close_timeout` default): closing with request bytes unread makes the kernel reset the
 * connection, and clients that stop at a failed write (Node's http and fetch) never read the answer.
 */
const LINGER_MS = 1000;

interface Listener {
  readonly app: TemplatedApp;
  readonly socket: us_listen_socket;
  readonly port: number;
  /** The listener's own drain state: a listener a reload removes drains alone. */
  readonly drain: DrainState;
}

export class HttpServer {
  private readonly opts: HttpServerOptions;
  private readonly onRequest: RequestHandler;
  private readonly onOversize: OversizeHandler;
  /** Listening, by Gateway listener port. */
  private readonly sockets = new Map<number, Listener>();
  /** Removed by a reload: no longer accepting, their connections draining until closeRetired(). */
  private readonly retired = new Set<Listener>();
  /** Requests of listeners already closed (requestsSeen stays monotonic). */
  private closedRequests = 0;

  constructor(opts: HttpServerOptions, onRequest: RequestHandler, onOversize: OversizeHandler) {
    this.opts = opts;
    this.onRequest = onRequest;
    this.onOversize = onOversize;
  }

  /**
   * Starts listening on `port` (0 = ephemeral). `configPort` is the Gateway listener port the
   * requests are routed by (differs from the bound port only in tests/port overrides).
   * Resolves with the bound port; rejects with a clear message if the port cannot be bound.
   */
  listen(configPort: number, port: number): Promise<number> {
    const uws = loadUws();
    const app = uws.App();
    const maxHeaderBytes = this.opts.maxRequestHeadersBytes;
    const onRequest = this.onRequest;
    const onOversize = this.onOversize;
    // A listener opened during a stop's drain drains from the start.
    const drain: DrainState = { draining: this.acceptStopped, requests: 0, active: 0, lingering: 0 };
    app.any('/*', (res: HttpResponse, req: HttpRequest) => {
      const headers: string[] = [];
      let headerBytes = 0;
      // Host, content-length and transfer-encoding are picked up here (first occurrence, as
      // uWS getHeader): three getHeader calls would cost ~400 ns, the comparisons ~75.
      let host: string | undefined;
      let lengthHeader: string | undefined;
      let te: string | undefined;
      let badFraming = false;
      let authorizationAt = -1;
      let clientClose = false;
      let firstConnection: string | undefined;
      // Every Connection field, joined with ',' (the list Envoy's codec reads).
      let connection: string | undefined;
      req.forEach((name, value) => {
        headerBytes += name.length + value.length + 4;
        switch (name) {
          case 'authorization':
            // Envoy keeps Authorization as an inline header (registered by its oauth2 and cache
            // filters): a repeated field is appended to the first with ',' (HeaderMapImpl
            // appendToHeader), so jwt_authn sees one value and the upstream gets one field.
            // Empty values add nothing (appendToHeader skips them, and an empty first value is
            // replaced rather than followed by a comma).
            if (authorizationAt >= 0) {
              if (value !== '') headers[authorizationAt] = headers[authorizationAt] === '' ? value : `${headers[authorizationAt]},${value}`;
              return;
            }
            authorizationAt = headers.length + 1;
            break;
          case 'host':
            // RFC 9112 §3.2: a second Host is a 400 (uWS keeps the first, a proxy in front may
            // read the last).
            if (host !== undefined) badFraming = true;
            else host = value;
            break;
          case 'content-length':
            // Two different lengths: uWS frames by the first, so the rest of the body would be
            // read as a next request (Envoy answers 400).
            if (lengthHeader !== undefined && value !== lengthHeader) badFraming = true;
            lengthHeader ??= value;
            break;
          case 'transfer-encoding':
            // Several fields are one list (`chunked` then `gzip` is `chunked, gzip`).
            te = te === undefined ? value : `${te}, ${value}`;
            break;
          case 'connection':
            // RFC 9112 §9.6: `close` anywhere in the list (uWS only sees a first field that
            // is `close`, and then closes after the answer itself).
            firstConnection ??= value;
            connection = connection === undefined ? value : `${connection},${value}`;
            if (!clientClose && CLOSE_TOKEN.test(value)) clientClose = true;
            break;
        }
        headers.push(name, value);
      });
      host ??= '';
      // The fields a client names in Connection go before routing and the JWT check, as in
      // Envoy's codec, which refuses some nominations (400).
      if (connection !== undefined && !removeNominatedFields(headers, connection)) badFraming = true;
      // uWS frames an empty transfer-encoding or content-length as no body: refused below (a
      // body that follows would be read as a next request).
      const chunked = te !== undefined && te !== '';
      const contentLength = lengthHeader === undefined || lengthHeader === '' ? -1 : Number(lengthHeader);
      if (lengthHeader === '') badFraming = true;
      const url = req.getUrl();
      const query = req.getQuery() ?? '';
      headerBytes += url.length + query.length;
      const method = req.getCaseSensitiveMethod();
      const hasBody = chunked || contentLength > 0;
      drain.requests++;
      drain.active++;
      const exchange = new UwsExchange(res, hasBody, chunked ? -1 : contentLength, method === 'HEAD', drain);
      // The host without its port (an IPv6 literal's colons are inside brackets), lower case.
      const colon = host.lastIndexOf(':');
      const hostOnly = (colon !== -1 && host.indexOf(']') < colon ? host.slice(0, colon) : host).toLowerCase();
      if (headerBytes > maxHeaderBytes) {
        // Envoy's codec closes the connection after a 431: what follows is never read as a request.
        exchange.closeAfterResponse = true;
        onOversize(configPort, exchange, headerBytes, method.toUpperCase(), hostOnly, url);
      } else {
        const request = new UwsRequest(method.toUpperCase(), url, query, hostOnly, host, headers, exchange);
        // Envoy's codec: 400 for a Host that is not an authority (http.invalid_authority) or
        // for conflicting framing, 501 for a transfer coding other than chunked.
        if (badFraming || NOT_AUTHORITY.test(host)) request.invalid = 'REQUEST_INVALID';
        else if (te !== undefined && te !== 'chunked' && te.toLowerCase() !== 'chunked') request.invalid = 'REQUEST_TRANSFER_ENCODING_UNSUPPORTED';
        if (request.invalid !== undefined) exchange.closeAfterResponse = true;
        if (clientClose) {
          exchange.clientClose = true;
          exchange.uwsCloses = firstConnection!.trim().toLowerCase() === 'close';
        }
        onRequest(configPort, request, exchange);
      }
      exchange.armAbort();
    });
    return new Promise((resolve, reject) => {
      // Exclusive: without it uWS sets SO_REUSEPORT, so a second gateway (or a second listener
      // mapped to the same port) would bind too and take part of the traffic.
      (app as unknown as ListenWithOptions).listen(this.opts.host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
          reject(new StartupError(`cannot listen on ${host}:${port} (Gateway listener port ${configPort}): the port is in use or not permitted, or the address is not one of this machine's`));
          return;
        }
        const bound = uws.us_socket_local_port(socket);
        if (this.acceptStopped) {
          // stop() ran while this bind was pending: not a listener any more.
          uws.us_listen_socket_close(socket);
          (app as unknown as { close(): void }).close();
          reject(new StartupError(`cannot listen on port ${port} (Gateway listener port ${configPort}): the gateway is stopping`));
          return;
        }
        this.sockets.set(configPort, { app, socket, port: bound, drain });
        resolve(bound);
      });
    });
  }

  /** Bound port of a Gateway listener port. */
  boundPort(configPort: number): number | undefined {
    return this.sockets.get(configPort)?.port;
  }

  /** Stops accepting new connections; requests in flight finish on their open connections. */
  stopAccepting(): void {
    // Closing a uWS listen socket twice is a use-after-free (SIGSEGV): close each once.
    if (this.acceptStopped) return;
    this.acceptStopped = true;
    const uws = loadUws();
    for (const { socket, drain } of this.sockets.values()) {
      drain.draining = true;
      uws.us_listen_socket_close(socket);
    }
  }

  private acceptStopped = false;

  /**
   * A listener a reload removed: stops accepting on it at once, and its answers from now on say
   * `Connection: close` (its own drain). Its connections stay open, and their requests are
   * still handed over with `configPort`, until `closeRetired` returns its handle to close.
   * Returns undefined if nothing listens on `configPort`.
   */
  retire(configPort: number): { requestsSeen(): number; active(): number; lingering(): number; close(): void } | undefined {
    const l = this.sockets.get(configPort);
    if (!l) return undefined;
    this.sockets.delete(configPort);
    this.retired.add(l);
    l.drain.draining = true;
    if (!this.acceptStopped) loadUws().us_listen_socket_close(l.socket);
    return {
      requestsSeen: () => l.drain.requests,
      active: () => l.drain.active,
      lingering: () => l.drain.lingering,
      close: () => this.closeRetired(l),
    };
  }

  private closeRetired(l: Listener): void {
    if (!this.retired.delete(l)) return;
    this.closedRequests += l.drain.requests;
    (l.app as unknown as { close(): void }).close();
  }

  /** Requests received so far (a drain waits until this stops moving). */
  get requestsSeen(): number {
    let n = this.closedRequests;
    for (const l of this.sockets.values()) n += l.drain.requests;
    for (const l of this.retired) n += l.drain.requests;
    return n;
  }

  /** Early answers still waiting for the rest of their upload (at most LINGER_MS each). */
  get lingering(): number {
    let n = 0;
    for (const l of this.sockets.values()) n += l.drain.lingering;
    for (const l of this.retired) n += l.drain.lingering;
    return n;
  }

  /** Closes every connection (after stopAccepting and a drain period). */
  close(): void {
    this.stopAccepting();
    for (const { app } of this.sockets.values()) (app as unknown as { close(): void }).close();
    this.sockets.clear();
    for (const l of [...this.retired]) this.closeRetired(l);
  }
}
