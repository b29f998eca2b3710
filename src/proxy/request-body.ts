// Bridges the client's request body (ClientExchange.onBody push callbacks) into the Readable
// undici writes to the upstream socket, with backpressure both ways: when the Readable's buffer
// is full the client body is paused, and undici's next read resumes it. It also counts bytes and
// enforces the optional body size limit. It does not decide what to answer on overflow: it calls
// back its owner.

import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { ClientExchange } from '../http/exchange.js';

/** Buffered between the client and the upstream socket before the client body is paused. */
const HIGH_WATER_MARK_BYTES = 64 * 1024;

function noop(): void {}

/** Envoy's default max_inflate_ratio for its gzip and brotli decompressors. */
const MAX_INFLATE_RATIO = 100;
/** Below this many inflated bytes the ratio is not checked (a short body of one repeated byte). */
const MIN_RATIO_CHECK_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Buffered for a mirror's copy of the body before the copy is abandoned: a mirror backend that
 * reads slower than the client sends never holds back the request itself.
 */
const MIRROR_BUFFER_BYTES = 1024 * 1024;

/** A mirror's copy of a request body: fed with the client's chunks as they come, never paused. */
export class MirrorBody extends Readable {
  /** Cut by the gateway (too much buffered, or the request ended before its body did). */
  abandoned = false;
  constructor() {
    super({ highWaterMark: HIGH_WATER_MARK_BYTES });
    this.on('error', noop);
  }
  override _read(): void {}
  /** Ends the copy without its whole body: the mirror's request is cut. */
  abandon(): void {
    if (this.destroyed) return;
    this.abandoned = true;
    this.destroy(MIRROR_ABANDONED);
  }
}

const MIRROR_ABANDONED = new Error('mirrored request body abandoned');

export interface RequestBodyOwner {
  /** The body grew past the limit: answer 413 (or close) and stop the upstream request. */
  onBodyTooLarge(): void;
  /** The body grew past what is kept for a retry (`keepBytes`): it can no longer be replayed. */
  onBodyNotKept?(): void;
  /** A body being decompressed is not valid for its content-encoding: answer 400 and stop the upstream request. */
  onBodyInvalid?(): void;
}

export class RequestBody extends Readable {
  /** Body bytes received from the client so far. */
  bytes = 0;
  private readonly client: ClientExchange;
  private readonly limit: number;
  private readonly owner: RequestBodyOwner;
  /**
   * The chunks received so far, kept for a retry while they total at most `keepBytes` (Envoy
   * buffers a request body for its retries up to its buffer limit); null when none are kept.
   */
  kept: Buffer[] | null;
  private readonly keepBytes: number;
  /** The route's mirrors' copies of the body. */
  private mirrors: MirrorBody[] | null = null;
  /** The stream the current attempt reads: this one, or a retry's replay (see replay()). */
  private out: Readable = this;
  /** `out` takes chunks as they come (a replay does once it has taken the kept ones). */
  private outStarted = true;
  private clientPaused = false;
  private eof = false;
  private detached = false;

  /**
   * TrafficPolicy `compression.requestDecompression`: the client's chunks are inflated first, and
   * everything after (the limit, retries' copy, mirrors, the upstream) sees the inflated body, as
   * Envoy's decompressor filter runs before the router.
   */
  private decoder: zlib.Gunzip | zlib.BrotliDecompress | null = null;
  private decoderPaused = false;
  /** Bytes of the body as inflated so far (`encodedBytes`: as they came). */
  private decodedBytes = 0;
  /** Compressed bytes given to the decoder. */
  private encodedBytes = 0;

  /** The client's last body chunk has arrived. */
  get clientEnded(): boolean {
    return this.eof;
  }

  /** performance.now() when the last chunk arrived (after inflating, for a decoded body); 0 before. */
  endedAt = 0;

  /** `limitBytes` 0 = unlimited; `keepBytes` > 0: keep the body, up to that size, for a replay. */
  constructor(client: ClientExchange, limitBytes: number, owner: RequestBodyOwner, keepBytes = 0) {
    super({ highWaterMark: HIGH_WATER_MARK_BYTES });
    this.client = client;
    this.limit = limitBytes;
    this.owner = owner;
    this.keepBytes = keepBytes;
    this.kept = keepBytes > 0 ? [] : null;
    // undici destroys the body with the socket error when the upload fails; the exchange learns
    // about the failure through the dispatch handler, so the stream's own 'error' is only
    // swallowed here (an unhandled one would crash the process).
    this.on('error', noop);
  }

  /**
   * Inflates the client's body (`gzip` or `br`) before it goes on. Call before the first chunk;
   * then give the client's chunks to onEncodedChunk.
   */
  decode(codec: 'gzip' | 'br'): void {
    const d = (this.decoder = codec === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress());
    d.on('data', (out: Buffer) => {
      this.decodedBytes += out.length;
      // Envoy's decompressors stop past 100 times the input (max_inflate_ratio): a small body
      // that would grow without bound (a decompression bomb) is refused, not passed on cut.
      if (this.decodedBytes > MIN_RATIO_CHECK_BYTES && this.decodedBytes > MAX_INFLATE_RATIO * this.encodedBytes) {
        if (!this.eof && !this.detached) this.owner.onBodyInvalid?.();
        d.destroy();
        return;
      }
      this.onChunk(out, false);
    });
    d.on('end', () => this.onChunk(EMPTY, true));
    // Corrupt or truncated data: the request cannot be passed on whole.
    d.on('error', () => {
      if (!this.eof && !this.detached) this.owner.onBodyInvalid?.();
    });
  }

  /** The ClientExchange.onBody callback target when the body is decoded (see decode). */
  onEncodedChunk(chunk: Buffer, isLast: boolean): void {
    const d = this.decoder!;
    if (this.detached || d.destroyed) return;
    if (chunk.length > 0 && !d.write(chunk) && !isLast && !this.clientPaused) {
      // Resumed only when the decoder has taken this input (not on the upstream's next read: a
      // decoder held back by the upstream would take in the whole compressed body meanwhile).
      this.clientPaused = true;
      this.client.pauseBody();
      d.once('drain', () => {
        if (this.clientPaused && !this.detached) {
          this.clientPaused = false;
          this.client.resumeBody();
        }
      });
    }
    if (chunk.length > 0) this.encodedBytes += chunk.length;
    if (!isLast) return;
    // An empty body (chunked, no data) inflates to an empty one, as Envoy's decompressor passes
    // it (zlib would call it truncated).
    if (this.encodedBytes === 0) {
      d.destroy();
      this.onChunk(EMPTY, true);
      return;
    }
    d.end();
  }

  /** The ClientExchange.onBody callback target. */
  onChunk(chunk: Buffer, isLast: boolean): void {
    if (this.eof || this.detached) return;
    if (chunk.length > 0) {
      this.bytes += chunk.length;
      if (this.limit > 0 && this.bytes > this.limit) {
        this.owner.onBodyTooLarge();
        return;
      }
      if (this.mirrors !== null) this.feedMirrors(chunk);
      if (this.kept !== null) {
        if (this.bytes <= this.keepBytes) this.kept.push(chunk);
        else {
          this.kept = null;
          this.owner.onBodyNotKept?.();
        }
      }
      // An attempt that failed (its stream destroyed) reads no more; a replay not yet started
      // takes this chunk with the kept ones.
      const out = this.out;
      if (this.outStarted && !out.destroyed && !out.push(chunk) && !isLast) {
        // Decoding: the decoder stops (its input then fills, which pauses the client).
        if (this.decoder !== null) {
          if (!this.decoderPaused) {
            this.decoderPaused = true;
            this.decoder.pause();
          }
        } else if (!this.clientPaused) {
          this.clientPaused = true;
          this.client.pauseBody();
        }
      }
    }
    if (isLast) {
      this.eof = true;
      this.endedAt = performance.now();
      if (this.mirrors !== null) for (const m of this.mirrors) if (!m.destroyed) m.push(null);
      if (this.outStarted && !this.out.destroyed) this.out.push(null);
    }
  }

  /** A mirror's copy gets every chunk from now on (call before the first chunk is handed over). */
  mirrorTo(m: MirrorBody): void {
    (this.mirrors ??= []).push(m);
  }

  private feedMirrors(chunk: Buffer): void {
    for (const m of this.mirrors!) {
      if (m.destroyed) continue;
      if (m.readableLength + chunk.length > MIRROR_BUFFER_BYTES) m.abandon();
      else m.push(chunk);
    }
  }

  /**
   * The body for another attempt (only while `kept` is not null): the kept chunks, then the rest
   * as the client sends it (Envoy retries a request whose body is still arriving). The attempt
   * that reads it becomes the one the client's chunks go to.
   */
  replay(): Readable {
    let scheduled = false;
    const r: Readable = new Readable({
      highWaterMark: HIGH_WATER_MARK_BYTES,
      read: () => {
        if (this.outStarted) return this.resumeClient();
        if (scheduled) return;
        scheduled = true;
        // Pushed after undici's first read, which it makes to learn whether the stream has ended:
        // one that has is sent with a content-length, and a body the client sent chunked goes out
        // chunked again, as Envoy replays it with the request's own head.
        setImmediate(() => {
          if (this.out !== r || r.destroyed) return;
          this.outStarted = true;
          for (const c of this.kept ?? []) r.push(c);
          if (this.eof) r.push(null);
        });
      },
    });
    r.on('error', noop);
    this.out = r;
    this.outStarted = false;
    return r;
  }

  override _read(): void {
    this.resumeClient();
  }

  /**
   * The attempt reading the body was given up for a retry: until the retry reads, the client's
   * chunks go on into `kept` (Envoy buffers the body while a retry waits), up to its limit.
   */
  attemptEnded(): void {
    this.resumeClient();
  }

  private resumeClient(): void {
    // Decoding: the upstream's read resumes the decoder; the client resumes on the decoder's drain.
    if (this.decoder !== null) {
      if (this.decoderPaused) {
        this.decoderPaused = false;
        this.decoder.resume();
      }
      return;
    }
    if (this.clientPaused) {
      this.clientPaused = false;
      this.client.resumeBody();
    }
  }

  /**
   * The exchange is over (response complete, failed, or client gone): further client chunks
   * are dropped, and a client body we paused flows again so the rest is drained, not stuck.
   */
  detach(): void {
    this.detached = true;
    if (this.decoder !== null && !this.decoder.destroyed) this.decoder.destroy();
    // A mirror's copy cannot be finished without the rest of the body.
    if (!this.eof && this.mirrors !== null) for (const m of this.mirrors) m.abandon();
    if (this.clientPaused) {
      this.clientPaused = false;
      this.client.resumeBody();
    }
  }
}
