// Remembers tokens whose signature verified, keyed by the raw token, with the key-set
// generation each verification used, so a hit skips parsing and the signature check (Envoy's
// optional jwt_cache, spec §4.10, with jwtgate's own bounds). Also shares one in-flight
// verification between concurrent requests carrying the same token. Does not check issuer,
// time or audience: the caller re-checks those on every hit.

import type { ParsedJwt } from './jwt-parse.js';

export interface ResultCacheOptions {
  /** Maximum entries (default 10000). */
  maxEntries?: number;
  /** Maximum estimated bytes over all entries (default 16 MiB). */
  maxBytes?: number;
  /** Tokens longer than this many characters are never cached (default 8192). */
  maxTokenChars?: number;
}

interface Entry {
  readonly token: string;
  readonly jwt: ParsedJwt;
  readonly bytes: number;
  // The key set and generation of the first verification inline (the common case: one provider
  // per token); further key sets, if any, in `more`.
  keySetId: string;
  generation: number;
  more: Map<string, number> | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

interface Inflight {
  readonly keySetId: string;
  readonly generation: number;
  readonly verification: Promise<unknown>;
  next: Inflight | undefined;
}

// Rough per-entry cost: the key string, the parsed claims (about the decoded payload, itself
// 3/4 of the token) and the decoded signature, plus object overhead, plus ~48 bytes for each
// object or array of the claims (a payload of 2,000 `[]` takes ~80 KiB parsed, 6 KiB as text).
function estimateBytes(token: string, jwt: ParsedJwt): number {
  return token.length * 2 + 256 + jwt.payloadContainers * 48;
}

export class ResultCache {
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxTokenChars: number;
  private readonly map = new Map<string, Entry>();
  // Keyed by the token alone, like `map`, so the token's string hash (computed once by V8, on the
  // first lookup) is reused: a composite key would be a new 600-character string to hash twice per
  // miss. Verifications of one token against other key sets/generations chain behind.
  private readonly inflight = new Map<string, Inflight>();
  // Doubly linked list, most recently used at `head`.
  private head: Entry | undefined;
  private tail: Entry | undefined;
  private totalBytes = 0;

  constructor(opts: ResultCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.maxTokenChars = opts.maxTokenChars ?? 8192;
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * The parsed token if its signature was verified against `keySetId` at exactly `generation`
   * (a replaced key set invalidates it). O(1), allocation-free; marks the entry recently used.
   */
  lookup(token: string, keySetId: string, generation: number): ParsedJwt | undefined {
    const e = this.map.get(token);
    if (!e) return undefined;
    const g = e.keySetId === keySetId ? e.generation : e.more?.get(keySetId);
    if (g !== generation) return undefined;
    this.touch(e);
    return e.jwt;
  }

  /** The parsed token if it is cached for any key set (does not mark it recently used). */
  parsed(token: string): ParsedJwt | undefined {
    return this.map.get(token)?.jwt;
  }

  /** Records a successful verification of `token` against `keySetId` at `generation`. */
  record(token: string, jwt: ParsedJwt, keySetId: string, generation: number): void {
    if (token.length > this.maxTokenChars) return;
    const existing = this.map.get(token);
    if (existing) {
      if (existing.keySetId === keySetId) existing.generation = generation;
      else (existing.more ??= new Map()).set(keySetId, generation);
      this.touch(existing);
      return;
    }
    const bytes = estimateBytes(token, jwt);
    if (bytes > this.maxBytes) return;
    const e: Entry = { token, jwt, bytes, keySetId, generation, more: undefined, prev: undefined, next: undefined };
    this.map.set(token, e);
    this.totalBytes += bytes;
    this.linkHead(e);
    while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) this.remove(this.tail!);
  }

  /** Forgets a token (e.g. found expired on a hit). */
  delete(token: string): void {
    const e = this.map.get(token);
    if (e) this.remove(e);
  }

  /** The verification of `token` against this key set generation already running, if any. */
  pending<T>(token: string, keySetId: string, generation: number): Promise<T> | undefined {
    for (let f = this.inflight.get(token); f; f = f.next) {
      if (f.keySetId === keySetId && f.generation === generation) return f.verification as Promise<T>;
    }
    return undefined;
  }

  /** Makes `verification` visible to `pending` until it settles. */
  share<T>(token: string, keySetId: string, generation: number, verification: Promise<T>): Promise<T> {
    const f: Inflight = { keySetId, generation, verification, next: this.inflight.get(token) };
    this.inflight.set(token, f);
    const done = () => this.unshare(token, f);
    verification.then(done, done);
    return verification;
  }

  /** Verifications in flight (tests). */
  get inflightCount(): number {
    let n = 0;
    for (let f of this.inflight.values()) for (; f; f = f.next!) n++;
    return n;
  }

  private unshare(token: string, f: Inflight): void {
    const first = this.inflight.get(token);
    if (first === f) {
      if (f.next) this.inflight.set(token, f.next);
      else this.inflight.delete(token);
      return;
    }
    for (let prev = first; prev; prev = prev.next) {
      if (prev.next === f) {
        prev.next = f.next;
        return;
      }
    }
  }

  private touch(e: Entry): void {
    if (this.head === e) return;
    this.unlink(e);
    this.linkHead(e);
  }

  private linkHead(e: Entry): void {
    e.prev = undefined;
    e.next = this.head;
    if (this.head) this.head.prev = e;
    this.head = e;
    if (!this.tail) this.tail = e;
  }

  private unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
  }

  private remove(e: Entry): void {
    this.unlink(e);
    this.map.delete(e.token);
    this.totalBytes -= e.bytes;
  }
}
