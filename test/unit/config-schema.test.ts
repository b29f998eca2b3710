// The field parser under every resource (schema.ts): types, bounds counted as Kubernetes counts
// them, null as absent, and the "did you mean" distance limits (found by mutation testing).
import test from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigProblem } from '../../src/errors.js';
import { int, obj, ParseCtx, str, suggest } from '../../src/config/schema.js';

function parse(schema: { parse(v: unknown, p: string, cx: ParseCtx): unknown }, v: unknown): { value: unknown; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const value = schema.parse(v, 'spec.f', new ParseCtx('X/default/x', problems));
  return { value, problems };
}

test('schema: an integer field refuses a fraction (1.5 is a YAML number, not an integer)', () => {
  const r = parse(int({ min: 1 }), 1.5);
  assert.equal(r.value, undefined);
  assert.deepEqual(r.problems.map((p) => [p.path, p.message]), [['spec.f', 'Invalid value: number 1.5: must be of type integer']]);
  assert.deepEqual(parse(int({ min: 1 }), 2).problems, []);
});

test('schema: string lengths count characters (code points) as Kubernetes maxLength does, not UTF-16 units', () => {
  const emoji = '\u{1F600}';
  assert.deepEqual(parse(str({ max: 3 }), emoji.repeat(3)).problems, []);
  const over = parse(str({ max: 3 }), emoji.repeat(4));
  assert.deepEqual(over.problems.map((p) => p.message), ['Too long: may not be more than 3 characters (got 4)']);
});

test('schema: a field written as null is absent (kubectl drops nulls): an optional one is accepted, a defaulted one gets its default', () => {
  const schema = obj({ a: str().optional(), b: int().default(7), c: str() });
  const r = parse(schema, { a: null, b: null, c: 'x' });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.value, { b: 7, c: 'x' });
  const missing = parse(schema, { c: null });
  assert.deepEqual(missing.problems.map((p) => [p.path, p.message]), [['spec.f.c', 'Required value']]);
});

test('schema: "did you mean" reaches 3 edits for long names, length differences of 3 included', () => {
  const fields = ['claimsToHeaders', 'forwardToken'];
  // 3 substitutions, same length, 15 characters: the limit is 3.
  assert.equal(suggest('clainsTpHeaderz', fields), 'claimsToHeaders');
  // 3 deletions, not a prefix of the name.
  assert.equal(suggest('laimsToHeadr', fields), 'claimsToHeaders');
  assert.equal(suggest('abcd', ['wxyz']), undefined);
});

test('schema: an ignored or a refused field written as null is absent too: no warning, no error (found by mutation testing)', () => {
  const schema = obj({ a: str().optional() }, { ignored: { timeouts: 'timeouts is ignored' }, refused: { acl: 'acl is refused' } });
  assert.deepEqual(parse(schema, { a: 'x', timeouts: null, acl: null }).problems, []);
  // Written with a value, each says so.
  const r = parse(schema, { a: 'x', timeouts: { request: '1s' }, acl: { action: 'Deny' } });
  assert.deepEqual(r.problems.map((p) => [p.severity, p.path, p.message]), [
    ['warning', 'spec.f.timeouts', 'timeouts is ignored'],
    ['error', 'spec.f.acl', 'acl is refused'],
  ]);
});

test('schema: a quoted string value is shown whole up to 60 characters; from 61 it is cut to its first 57 and "..." (found by mutation testing)', () => {
  const sixty = '0123456789'.repeat(6);
  assert.equal(sixty.length, 60);
  assert.deepEqual(parse(int(), sixty).problems.map((p) => [p.path, p.message]), [['spec.f', `Invalid value: string "${sixty}": must be of type integer`]]);
  const sixtyOne = `${sixty}X`;
  assert.deepEqual(parse(int(), sixtyOne).problems.map((p) => [p.path, p.message]), [
    ['spec.f', 'Invalid value: string "012345678901234567890123456789012345678901234567890123456...": must be of type integer'],
  ]);
  // Nested: the path is the field's, the cut the same.
  const nested = parse(obj({ port: int() }), { port: sixtyOne });
  assert.deepEqual(nested.problems.map((p) => [p.path, p.message]), [
    ['spec.f.port', 'Invalid value: string "012345678901234567890123456789012345678901234567890123456...": must be of type integer'],
  ]);
});

test('schema: the cut of a long quoted value never splits an emoji (a lone surrogate would show as \\ud83d in the JSON log)', () => {
  // 56 characters, then an emoji (two UTF-16 units, the 57th and 58th), then more: cut before it.
  const value = `${'a'.repeat(56)}\u{1F600}${'b'.repeat(10)}`;
  const [p] = parse(int(), value).problems;
  assert.equal(p!.message, `Invalid value: string "${'a'.repeat(56)}...": must be of type integer`);
  assert.doesNotMatch(p!.message, /[\ud800-\udbff](?![\udc00-\udfff])/);
  // The emoji as the 56th and 57th units: whole, as the 57 kept.
  const whole = `${'a'.repeat(55)}\u{1F600}${'b'.repeat(10)}`;
  assert.equal(parse(int(), whole).problems[0]!.message, `Invalid value: string "${'a'.repeat(55)}\u{1F600}...": must be of type integer`);
});
