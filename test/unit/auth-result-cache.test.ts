// ResultCache: LRU bounded by entries and by bytes, generation invalidation, in-flight sharing.
import test from 'node:test';
import assert from 'node:assert/strict';
import { ResultCache } from '../../src/auth/result-cache.js';
import { parseJwt, type ParsedJwt } from '../../src/auth/jwt-parse.js';

const jwt = (name: string): ParsedJwt =>
  ({ ok: true, alg: 'RS256', kid: '', iss: name, aud: [], nbf: 0, exp: 0, payload: { name }, signingInput: 'x.y', signature: new Uint8Array(), payloadContainers: 1 }) as ParsedJwt;

test('a hit needs the same key set and generation', () => {
  const c = new ResultCache();
  const j = jwt('a');
  c.record('tok-a', j, 'ks1', 1);
  assert.equal(c.lookup('tok-a', 'ks1', 1), j);
  assert.equal(c.lookup('tok-a', 'ks1', 2), undefined, 'key set replaced: generation moved on');
  assert.equal(c.lookup('tok-a', 'ks2', 1), undefined, 'another key set');
  assert.equal(c.lookup('tok-b', 'ks1', 1), undefined);
  c.record('tok-a', j, 'ks2', 7);
  assert.equal(c.lookup('tok-a', 'ks2', 7), j);
  assert.equal(c.lookup('tok-a', 'ks1', 1), j, 'both key sets remembered');
  c.record('tok-a', j, 'ks1', 2);
  assert.equal(c.lookup('tok-a', 'ks1', 1), undefined);
  assert.equal(c.lookup('tok-a', 'ks1', 2), j);
  assert.equal(c.size, 1);
});

test('LRU by entries: the least recently used entry goes first', () => {
  const c = new ResultCache({ maxEntries: 3 });
  for (const t of ['t1', 't2', 't3']) c.record(t, jwt(t), 'ks', 1);
  assert.ok(c.lookup('t1', 'ks', 1), 'touch t1');
  c.record('t4', jwt('t4'), 'ks', 1);
  assert.equal(c.size, 3);
  assert.equal(c.lookup('t2', 'ks', 1), undefined, 't2 was the least recently used');
  for (const t of ['t1', 't3', 't4']) assert.ok(c.lookup(t, 'ks', 1), t);
  c.record('t5', jwt('t5'), 'ks', 1);
  assert.equal(c.lookup('t1', 'ks', 1), undefined);
});

test('LRU by bytes: entries are evicted until the estimate fits; long tokens are not cached', () => {
  const big = (i: number) => String(i).padEnd(1000, 'x');
  const c = new ResultCache({ maxBytes: 5000, maxEntries: 1000 });
  for (let i = 0; i < 10; i++) c.record(big(i), jwt(String(i)), 'ks', 1);
  assert.ok(c.bytes <= 5000, `bytes ${c.bytes}`);
  assert.equal(c.size, 2);
  assert.ok(c.lookup(big(9), 'ks', 1));
  assert.equal(c.lookup(big(0), 'ks', 1), undefined);
  const small = new ResultCache({ maxTokenChars: 8192 });
  small.record('y'.repeat(8193), jwt('long'), 'ks', 1);
  assert.equal(small.size, 0);
  small.record('y'.repeat(8192), jwt('ok'), 'ks', 1);
  assert.equal(small.size, 1);
  small.delete('y'.repeat(8192));
  assert.equal(small.size, 0);
  assert.equal(small.bytes, 0);
  // One entry larger than the whole byte budget is not cached, and does not flush the others.
  const one = new ResultCache({ maxBytes: 5000, maxEntries: 1000, maxTokenChars: 100_000 });
  one.record('small', jwt('small'), 'ks', 1);
  one.record('z'.repeat(6000), jwt('huge'), 'ks', 1);
  assert.equal(one.lookup('z'.repeat(6000), 'ks', 1), undefined);
  assert.ok(one.lookup('small', 'ks', 1), 'the entries already cached stay');
  assert.equal(one.size, 1);
});

test('LRU by bytes: the objects and arrays of the claims count, not only the token length', () => {
  const seg = (o: string) => Buffer.from(o).toString('base64url');
  const token = (payload: string) => `${seg('{"alg":"RS256"}')}.${seg(payload)}.c2ln`;
  const flat = parseJwt(token(`{"x":"${'a'.repeat(6000)}"}`));
  const nested = parseJwt(token(`{"x":[${Array(2000).fill('[]').join(',')}]}`));
  assert.ok(flat.ok && nested.ok);
  assert.equal(flat.payloadContainers, 1);
  assert.equal(nested.payloadContainers, 2002);
  const c = new ResultCache({ maxBytes: 1_000_000, maxEntries: 1000 });
  c.record(token(`{"x":"${'a'.repeat(6000)}"}`), flat, 'ks', 1);
  const flatBytes = c.bytes;
  c.record(token(`{"x":[${Array(2000).fill('[]').join(',')}]}`), nested, 'ks', 1);
  // ~48 bytes per container on top of the string estimate (the nested token is shorter).
  assert.ok(c.bytes - flatBytes > flatBytes + 2000 * 40, `${flatBytes} then ${c.bytes}`);
});

test('default bounds: 10000 entries', () => {
  const c = new ResultCache();
  for (let i = 0; i < 10_050; i++) c.record(`tok-${i}`, jwt('x'), 'ks', 1);
  assert.equal(c.size, 10_000);
  assert.equal(c.lookup('tok-0', 'ks', 1), undefined);
  assert.ok(c.lookup('tok-10049', 'ks', 1));
});

test('in-flight sharing: one verification per (token, key set, generation) until it settles', async () => {
  const c = new ResultCache();
  assert.equal(c.pending('t', 'ks', 1), undefined);
  let resolve!: (v: string) => void;
  const p = new Promise<string>((r) => (resolve = r));
  assert.equal(c.share('t', 'ks', 1, p), p);
  assert.equal(c.pending<string>('t', 'ks', 1), p);
  assert.equal(c.pending('t', 'ks', 2), undefined, 'another generation does not share');
  assert.equal(c.pending('t', 'other', 1), undefined);
  resolve('done');
  assert.equal(await c.pending<string>('t', 'ks', 1), 'done');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.pending('t', 'ks', 1), undefined, 'settled: forgotten');
});

test('in-flight sharing: the same token against two key sets and a newer generation, settling in any order', async () => {
  const c = new ResultCache();
  const resolvers: Record<string, (v: string) => void> = {};
  const make = (name: string) => new Promise<string>((r) => (resolvers[name] = r));
  const a = c.share('t', 'ks-a', 1, make('a'));
  const b = c.share('t', 'ks-b', 1, make('b'));
  const a2 = c.share('t', 'ks-a', 2, make('a2'));
  const other = c.share('u', 'ks-a', 1, make('u'));
  assert.equal(c.inflightCount, 4);
  assert.equal(c.pending('t', 'ks-a', 1), a);
  assert.equal(c.pending('t', 'ks-b', 1), b);
  assert.equal(c.pending('t', 'ks-a', 2), a2);
  assert.equal(c.pending('u', 'ks-a', 1), other);
  assert.equal(c.pending('t', 'ks-b', 2), undefined);
  // The middle of the chain settles first, then the oldest, then the newest.
  resolvers.b!('b');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.pending('t', 'ks-b', 1), undefined);
  assert.equal(c.pending('t', 'ks-a', 1), a);
  assert.equal(c.pending('t', 'ks-a', 2), a2);
  resolvers.a!('a');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.pending('t', 'ks-a', 1), undefined);
  assert.equal(c.pending('t', 'ks-a', 2), a2);
  resolvers.a2!('a2');
  resolvers.u!('u');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.inflightCount, 0);
});

test('in-flight sharing: the newest verification of a token settling first leaves the older ones shared', async () => {
  const c = new ResultCache();
  const resolvers: Record<string, (v: string) => void> = {};
  const make = (name: string) => new Promise<string>((r) => (resolvers[name] = r));
  const a = c.share('t', 'ks-a', 1, make('a'));
  const b = c.share('t', 'ks-b', 1, make('b'));
  c.share('t', 'ks-a', 2, make('a2'));
  resolvers.a2!('a2');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.pending('t', 'ks-a', 2), undefined);
  assert.equal(c.pending('t', 'ks-b', 1), b, 'still in flight: shared');
  assert.equal(c.pending('t', 'ks-a', 1), a);
  assert.equal(c.inflightCount, 2);
  resolvers.b!('b');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.pending('t', 'ks-a', 1), a);
  assert.equal(c.inflightCount, 1);
  resolvers.a!('a');
  await new Promise((r) => setImmediate(r));
  assert.equal(c.inflightCount, 0);
});
