// A ClientExchange over plain objects for proxy tests: it feeds a request body (honouring
// pauseBody/resumeBody), records the response (status, headers, body chunks, how it ended), can
// simulate a slow client (write() returns false past a capacity until a later drain) and a
// client that disconnects. Semantics follow src/http/server.ts: onDrain/onAbort/onBody keep the
// last callback; every method is a no-op once `done`.

import type { ClientExchange, GatewayRequest } from '../../src/http/exchange.js';

export interface FakeExchangeOptions {
  /** Request body; a Buffer is sent in `chunkSize` pieces. Omit for no body. */
  body?: Buffer | Buffer[];
  /** Piece size when `body` is one Buffer. Default 64 KiB. */
  chunkSize?: number;
  /** Declared content-length; default the body length, or -1 with `chunked`. */
  contentLength?: number;
  /** Body without a declared length (transfer-encoding: chunked). */
  chunked?: boolean;
  /**
   * Response bytes the client accepts before write() returns false; then a drain follows
   * `drainAfterMs` later (setImmediate when 0). Default Infinity (never backpressure).
   */
  writeCapacity?: number;
  drainAfterMs?: number;
  /** Never drain on its own (test calls drain()). */
  manualDrain?: boolean;
  /**
   * The whole body is already buffered when the proxy asks for it (as UwsExchange holds a body
   * that arrived during the JWT check): onBody hands it over at once, synchronously.
   */
  bodyBuffered?: boolean;
}

export type EndState = 'pending' | 'responded' | 'ended' | 'destroyed' | 'aborted';

export class FakeExchange implements ClientExchange {
  readonly startedAt = performance.now();
  abortedAt: number | undefined = undefined;
  readonly hasBody: boolean;
  readonly contentLength: number;
  done = false;

  // --- recorded response ---
  status = 0;
  headers: string[] = [];
  chunks: Buffer[] = [];
  state: EndState = 'pending';
  /** Times write() returned false. */
  writePauses = 0;
  /** Writes made while a drain was pending (the proxy ignored backpressure). */
  writesWhilePaused = 0;
  /** Times the proxy paused the request body. */
  bodyPauses = 0;
  /** Request body bytes handed to the proxy. */
  bodyBytesSent = 0;
  /** Set by the proxy when the connection is to close after its answer. */
  closeAfterResponse = false;

  private readonly pieces: Buffer[];
  private nextPiece = 0;
  private bodyCb: ((chunk: Buffer, isLast: boolean) => void) | undefined;
  private bodyPaused = false;
  private pumpScheduled = false;
  private abortCb: (() => void) | undefined;
  private drainCb: (() => void) | undefined;
  private readonly capacity: number;
  private readonly drainAfterMs: number;
  private readonly manualDrain: boolean;
  private bodyBuffered: boolean;
  private buffered = 0;
  private needDrain = false;
  private readonly finishedPromise: Promise<EndState>;
  private resolveFinished!: (s: EndState) => void;

  constructor(opts: FakeExchangeOptions = {}) {
    const chunkSize = opts.chunkSize ?? 64 * 1024;
    if (opts.body === undefined) this.pieces = [];
    else if (Array.isArray(opts.body)) this.pieces = opts.body;
    else {
      this.pieces = [];
      for (let off = 0; off < opts.body.length; off += chunkSize) this.pieces.push(opts.body.subarray(off, off + chunkSize));
    }
    const total = this.pieces.reduce((n, b) => n + b.length, 0);
    this.hasBody = opts.chunked === true || total > 0;
    this.contentLength = opts.contentLength ?? (opts.chunked ? -1 : opts.body === undefined ? -1 : total);
    this.capacity = opts.writeCapacity ?? Infinity;
    this.drainAfterMs = opts.drainAfterMs ?? 0;
    this.manualDrain = opts.manualDrain ?? false;
    this.bodyBuffered = opts.bodyBuffered ?? false;
    this.finishedPromise = new Promise((resolve) => (this.resolveFinished = (st) => setImmediate(() => setImmediate(resolve, st))));
  }

  /**
   * Resolves when the response is complete, failed, or the client aborted, one event-loop turn
   * later: a real client's next request arrives as I/O in a later turn. undici only reuses a
   * keep-alive connection one full turn after its response completed (client-h1: "wait a full
   * event loop cycle"), so a next request issued sooner would open a second connection.
   */
  finished(): Promise<EndState> {
    return this.finishedPromise;
  }

  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get bodyText(): string {
    return this.body.toString('utf8');
  }

  /** First response header value by lowercase name. */
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i] === name) return this.headers[i + 1];
    return undefined;
  }

  headerValues(name: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i] === name) out.push(this.headers[i + 1]!);
    return out;
  }

  // --- request body ---

  onBody(cb: (chunk: Buffer, isLast: boolean) => void): void {
    this.bodyCb = cb;
    if (this.bodyBuffered) {
      while (!this.done && this.nextPiece < this.pieces.length) {
        const piece = this.pieces[this.nextPiece++]!;
        this.bodyBytesSent += piece.length;
        cb(piece, this.nextPiece === this.pieces.length);
      }
      return;
    }
    this.schedulePump();
  }

  /** The whole body at once (it is all here): over `limitBytes` or complete. */
  peekBody(limitBytes: number, ready: (first: Buffer, complete: boolean) => void): void {
    const all = Buffer.concat(this.pieces);
    this.bodyBuffered = true;
    ready(all.subarray(0, limitBytes), all.length <= limitBytes);
  }

  heldBody(): Buffer {
    return Buffer.concat(this.pieces);
  }

  bufferBody(limitBytes: number, complete: (bytes: number) => void, tooLarge: () => void): void {
    const total = this.pieces.reduce((n, b) => n + b.length, 0);
    if (total > limitBytes) return tooLarge();
    this.bodyBuffered = true;
    complete(total);
  }

  pauseBody(): void {
    if (!this.bodyPaused) this.bodyPauses++;
    this.bodyPaused = true;
  }

  resumeBody(): void {
    this.bodyPaused = false;
    this.schedulePump();
  }

  /** Delivers pieces while not paused, like a socket read loop (one batch per macrotask). */
  private schedulePump(): void {
    if (this.pumpScheduled || this.done || this.bodyCb === undefined) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      while (!this.bodyPaused && !this.done && this.nextPiece < this.pieces.length) {
        const piece = this.pieces[this.nextPiece++]!;
        this.bodyBytesSent += piece.length;
        this.bodyCb!(piece, this.nextPiece === this.pieces.length);
      }
    });
  }

  /**
   * From now on the client stops after each chunk it hands over (so after its first), until the
   * returned function is called: then it sends the rest. An upload the upstream answers first.
   */
  holdBody(): () => void {
    let hold = true;
    const onBody = this.onBody.bind(this);
    this.onBody = (cb): void =>
      onBody((chunk, isLast) => {
        cb(chunk, isLast);
        if (hold) this.pauseBody();
      });
    return () => {
      hold = false;
      this.resumeBody();
    };
  }

  // --- abort ---

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }

  /** Simulates the client disconnecting. */
  abort(): void {
    if (this.done) return;
    this.abortedAt = performance.now();
    this.finish('aborted');
    const cb = this.abortCb;
    this.abortCb = undefined;
    cb?.();
  }

  // --- response ---

  respond(status: number, headers: readonly string[], body: string | Buffer): void {
    if (this.done) return;
    this.status = status;
    this.headers = headers.slice();
    this.chunks.push(typeof body === 'string' ? Buffer.from(body) : body);
    this.finish('responded');
  }

  /** As UwsExchange: the head goes out with the first body chunk (or the end). */
  headWritten = false;
  writeHead(status: number, headers: readonly string[]): void {
    if (this.done) return;
    this.status = status;
    this.headers = headers.slice();
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    this.headWritten = true;
    if (this.needDrain) this.writesWhilePaused++;
    this.chunks.push(Buffer.from(chunk));
    this.buffered += chunk.length;
    if (this.buffered < this.capacity) return true;
    if (!this.needDrain) {
      this.needDrain = true;
      this.writePauses++;
      if (!this.manualDrain) {
        if (this.drainAfterMs > 0) setTimeout(() => this.drain(), this.drainAfterMs);
        else setImmediate(() => this.drain());
      }
    }
    return false;
  }

  /** The client consumed everything buffered: call the drain callback. */
  drain(): void {
    this.buffered = 0;
    if (!this.needDrain || this.done) return;
    this.needDrain = false;
    this.drainCb?.();
  }

  onDrain(cb: () => void): void {
    this.drainCb = cb;
  }

  end(): void {
    if (this.done) return;
    this.headWritten = true;
    this.finish('ended');
  }

  destroy(): void {
    if (this.done) return;
    this.abortCb = undefined;
    this.finish('destroyed');
  }

  /** As UwsExchange: the held head goes out when it declares a length, then the connection closes. */
  abortAfterHead(): void {
    if (this.done) return;
    const i = this.headers.indexOf('content-length');
    if (i >= 0 && i % 2 === 0 && Number(this.headers[i + 1]) > 0) this.headWritten = true;
    this.destroy();
  }

  private finish(state: EndState): void {
    this.done = true;
    this.state = state;
    this.resolveFinished(state);
  }
}

/** A GatewayRequest with test defaults (`GET /`, host `www.example.com:8080`, client 10.0.0.1). */
export function gatewayRequest(over: Partial<GatewayRequest> = {}): GatewayRequest {
  const authority = over.authority ?? 'www.example.com:8080';
  return {
    method: 'GET',
    path: '/',
    query: '',
    host: authority.replace(/:\d+$/, '').toLowerCase(),
    authority,
    headers: over.headers ?? ['host', authority, 'user-agent', 'fake-client/1'],
    remoteAddress: '10.0.0.1',
    scheme: 'http',
    ...over,
  };
}

/** The parts of Forwarder the helper needs (kept structural so this file imports no src/proxy). */
interface ForwardLike<O> {
  forward(req: GatewayRequest, target: { key: string; endpoints: readonly { host: string; port: number }[] }, client: ClientExchange, onDone?: (outcome: O) => void): void;
}

/** Forwards through `fwd` with a FakeExchange and waits for the end; returns the exchange and a copy of the outcome. */
export async function forwardOnce<O>(
  fwd: ForwardLike<O>,
  target: { key: string; endpoints: readonly { host: string; port: number }[] },
  req: Partial<GatewayRequest> = {},
  opts: FakeExchangeOptions = {},
): Promise<{ fx: FakeExchange; outcome: O }> {
  const fx = new FakeExchange(opts);
  let outcome: O | undefined;
  let calls = 0;
  fwd.forward(gatewayRequest(req), target, fx, (o) => {
    calls++;
    outcome = JSON.parse(JSON.stringify(o)) as O;
  });
  await fx.finished();
  if (calls !== 1) throw new Error(`onDone called ${calls} times`);
  return { fx, outcome: outcome! };
}

/** A backend target over `host:port` pairs. */
export function target(...ports: number[]): { key: string; endpoints: { host: string; port: number }[] } {
  return { key: `Backend/test/${ports.join('-')}`, endpoints: ports.map((port) => ({ host: '127.0.0.1', port })) };
}
