// Bridges the client's request body (ClientExchange.onBody push callbacks) into the Readable
// undici writes to the upstream socket, with backpressure both ways: when the Readable's buffer
// is full the client body is paused, and undici's next read resumes it. It also counts bytes and
// enforces the optional body size limit. It does not decide what to answer on overflow: it calls
// back its owner.

import { Readable } from 'node:stream';
import type { ClientExchange } from '../http/exchange.js';

/** Buffered between the client and the upstream socket before the client body is paused. */
const HIGH_WATER_MARK_BYTES = 64 * 1024;

function noop(): void {}

export interface RequestBodyOwner {
  /** The body grew past the limit: answer 413 (or close) and stop the upstream request. */
  onBodyTooLarge(): void;
}

export class RequestBody extends Readable {
  /** Body bytes received from the client so far. */
  bytes = 0;
  private readonly client: ClientExchange;
  private readonly limit: number;
  private readonly owner: RequestBodyOwner;
  private clientPaused = false;
  private eof = false;
  private detached = false;

  /** `limitBytes` 0 = unlimited. */
  constructor(client: ClientExchange, limitBytes: number, owner: RequestBodyOwner) {
    super({ highWaterMark: HIGH_WATER_MARK_BYTES });
    this.client = client;
    this.limit = limitBytes;
    this.owner = owner;
    // undici destroys the body with the socket error when the upload fails; the exchange learns
    // about the failure through the dispatch handler, so the stream's own 'error' is only
    // swallowed here (an unhandled one would crash the process).
    this.on('error', noop);
  }

  /** The ClientExchange.onBody callback target. */
  onChunk(chunk: Buffer, isLast: boolean): void {
    if (this.eof || this.detached || this.destroyed) return;
    if (chunk.length > 0) {
      this.bytes += chunk.length;
      if (this.limit > 0 && this.bytes > this.limit) {
        this.owner.onBodyTooLarge();
        return;
      }
      if (!this.push(chunk) && !isLast && !this.clientPaused) {
        this.clientPaused = true;
        this.client.pauseBody();
      }
    }
    if (isLast) {
      this.eof = true;
      this.push(null);
    }
  }

  override _read(): void {
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
    if (this.clientPaused) {
      this.clientPaused = false;
      this.client.resumeBody();
    }
  }
}
