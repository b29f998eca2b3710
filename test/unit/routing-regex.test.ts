// RegularExpression matches run in linear time, as RE2 does in Envoy: a pattern with nested
// quantifiers and a value built to make a backtracking engine explode still answers (V8's linear
// engine takes over), with (?i) patterns too (matched lowercased, since that engine has no i flag).
import test from 'node:test';
import assert from 'node:assert/strict';
import { compileAnchored } from '../../src/routing/regex.js';

const regex = (p: string) => {
  const r = compileAnchored(p);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.regex;
};

test('catastrophic patterns answer: each of these inputs would take a backtracking engine longer than this test may run', { timeout: 20_000 }, () => {
  const cases: [string, string, boolean][] = [
    ['/files/([\\w.-]+)+\\.txt', `/files/${'a'.repeat(64)}!`, false],
    ['/files/([\\w.-]+)+\\.txt', `/files/${'a'.repeat(64)}.txt`, true],
    ['/(.*)*/admin', `/${'a/'.repeat(64)}x`, false],
    ['(?i)(a|b+)+c', `${'b'.repeat(64)}!`, false],
    ['(?i)/API/(x+x+)+y', `/api/${'x'.repeat(64)}`, false],
  ];
  for (const [p, v, want] of cases) assert.equal(regex(p).test(v), want, `${p} on ${v.slice(0, 20)}…`);
});

test('(?i): letters match in either case, also when written as \\x/\\u codes; escapes like \\W keep their meaning', () => {
  assert.equal(regex('(?i)/API/v[0-9]+').test('/api/V12'), true);
  assert.equal(regex('(?i)[A-Z]+').test('abcXYZ'), true);
  assert.equal(regex('(?i)\\x41b\\x{43}').test('aBc'), true);
  assert.equal(regex('(?i)/x/\\W').test('/X/-'), true);
  assert.equal(regex('(?i)/x/\\W').test('/X/a'), false);
  assert.equal(regex('(?i)/x/\\S+').test('/x/AbC'), true);
  assert.equal(regex('/API').test('/api'), false, 'without (?i), case matters');
});

test('(?i) character classes: ranges keep their ends, their A-Z letters also match lowercase', () => {
  assert.equal(regex('(?i)[ -Z]+').test('_'), false, '[ -Z] stops before _: case folding adds only a-z');
  assert.equal(regex('(?i)[ -Z]+').test('aZ '), true);
  assert.equal(regex('(?i)[Q-c]+').test('q_C'), true, 'a range RE2 accepts stays valid');
  assert.equal(regex('(?i)[Q-c]+').test('p'), false);
  assert.equal(regex('(?i)[^A-Z]+').test('a'), false);
  assert.equal(regex('(?i)[^A-Z]+').test('1-'), true);
  assert.equal(regex('(?i)[\\]A]+').test(']a'), true);
});

test('large counted repeats (which V8 could not run in linear time): accepted, exact, and linear', { timeout: 20_000 }, () => {
  const files = regex('/files/([\\w.-]{1,64})+\\.txt');
  assert.equal(files instanceof RegExp, false, 'not a backtracking RegExp');
  assert.equal(files.test(`/files/${'a'.repeat(10_000)}!`), false);
  assert.equal(files.test('/files/report-2026.txt'), true);
  assert.equal(regex('(a{1,40})*').test('a'.repeat(100)), true);
  assert.equal(regex('(?i)/API/(x{1,30})+').test(`/api/${'X'.repeat(60)}`), true, '(?i) with RE2 semantics');
  assert.equal(regex('/x/[a-z]{1,64}').test('/x/abc'), true);
  assert.equal(regex('/a{1,100}b').test(`/${'a'.repeat(50)}b`), true);
  assert.equal(regex('(a{1,3})+!').test(`${'a'.repeat(64)}`), false);
});

test('a refused pattern (lookaround, backreference) is widened for its rule: the literal prefix, or anything under (?i)', async () => {
  const { overApproximation } = await import('../../src/routing/regex.js');
  assert.equal(overApproximation('/anything/(?=x)y').test('/anything/users'), true);
  assert.equal(overApproximation('/anything/(?=x)y').test('/other'), false);
  assert.equal(overApproximation('^/adminx?/(?!p)').test('/admin'), true, 'a character made optional by a quantifier is not part of the prefix');
  assert.equal(overApproximation('(?i)/ADMIN/(?=x)').test('/admin/x'), true);
});

test('RE2 syntax and semantics, not JavaScript\'s: what Envoy accepts and matches', () => {
  assert.equal(regex('/files/[[:alnum:]]+').test('/files/abc'), true);
  assert.equal(regex('/users/\\pL+').test('/users/bob'), true);
  assert.equal(regex('/v1/\\Q$metadata\\E').test('/v1/$metadata'), true);
  assert.equal(regex('/x/\\x{7e}').test('/x/~'), true);
  assert.equal(regex('/a(?i)b').test('/aB'), true, 'inline flags anywhere');
  assert.equal(regex('(?m)a').test('x\na'), false, 'a full match, whatever (?m) says');
  assert.equal(regex('.').test('😀'), true, '. is one code point');
  for (const p of ['\\u0041', '\\cA', '(?=x)', '(a)\\1']) assert.equal(compileAnchored(p).ok, false, `${p}: RE2 refuses it, so Envoy would`);
});

test('60 KB values match in milliseconds, whatever the pattern', { timeout: 20_000 }, () => {
  const long = 'a'.repeat(60_000);
  for (const p of ['.*.*.*.*.*.*.*.*=x', '(.*a){12}b', '/api/.*/.*/.*/.*/.*;', '/files/([\\w.-]+)+\\.txt']) assert.equal(regex(p).test(long), false, p);
});

test('a refused pattern with an alternation is widened to everything (the text before the | is not required)', async () => {
  const { overApproximation } = await import('../../src/routing/regex.js');
  assert.equal(overApproximation('/docs|/admin/(?=x).*').test('/admin/users'), true);
});

test('a pattern repeated across routes is compiled once: every match with it shares one matcher; a refused one keeps its error', () => {
  const p = '/api/v[0-9]+/(users|groups)/[a-z0-9-]{1,64}/[\\pL\\pN_]+';
  const a = compileAnchored(p);
  const b = compileAnchored(p);
  assert.ok(a.ok && b.ok);
  assert.equal(a.regex, b.regex);
  assert.equal(a.regex.test('/api/v2/users/bob/x_1'), true);
  assert.notEqual(compileAnchored(`${p}/`), a);
  const bad = compileAnchored('(?=x)');
  assert.equal(bad.ok, false);
  assert.deepEqual(compileAnchored('(?=x)'), bad);
});

test('the widened match of a refused pattern keeps only a prefix every match must have: `.` and `+` end it, a leading `^` does not (found by mutation testing)', async () => {
  const { overApproximation } = await import('../../src/routing/regex.js');
  // `.` matches any character: `/apiXv1/…` is one of the pattern's paths and must still hit the 500 rule.
  assert.equal(overApproximation('/api.v1/(?=x)').test('/apiXv1/x'), true);
  // `a+` needs one `a`, not the text `a+`.
  assert.equal(overApproximation('/a+/(?=x)').test('/aa/x'), true);
  // `{n}` may make the character before it absent (`{0}`).
  assert.equal(overApproximation('/adminx{0,1}/(?=p)').test('/admin/p'), true);
  // `^` anchors: the prefix after it is kept, so a refused rule does not take every other route's requests.
  assert.equal(overApproximation('^/admin/(?=x)').test('/admin/x'), true);
  assert.equal(overApproximation('^/admin/(?=x)').test('/public'), false);
});
