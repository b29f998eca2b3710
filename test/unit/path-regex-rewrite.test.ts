// TrafficPolicy urlRewrite.pathRegex: RE2's GlobalReplace on the path, as Envoy's regex_rewrite
// applies it (the examples of Envoy's route_components.proto and kgateway's "Path rewrites" page,
// and RE2's own rules for empty matches, anchors and substitution escapes).
import test from 'node:test';
import assert from 'node:assert/strict';
import { badEscape, compilePathRegex, maxSubmatch, regexRewritePath } from '../../src/proxy/path-regex-rewrite.js';

function rw(pattern: string, substitution: string, path: string): string {
  const r = compilePathRegex(pattern, substitution);
  assert.ok(r.ok, pattern);
  return regexRewritePath(r.rewrite, path);
}

test("Envoy's examples: groups moved, every occurrence replaced, the first only, a case-insensitive flag", () => {
  assert.equal(rw('^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api'), '/v1/api/instance/foo');
  assert.equal(rw('one', 'two', '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/two/zzz');
  assert.equal(rw('^(.*?)one(.*)$', '\\1two\\2', '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/one/zzz');
  assert.equal(rw('(?i)/xxx/', '/yyy/', '/aaa/XxX/bbb'), '/aaa/yyy/bbb');
});

test("kgateway's docs example, and what Envoy does where the docs say the pattern must match the whole path", () => {
  const docs = (p: string) => rw('^/anything/stores/(.*)/entities', '/anything/rewrite/path', p);
  assert.equal(docs('/anything/stores/us/entities'), '/anything/rewrite/path');
  assert.equal(docs('/anything/stores/dummy/entities'), '/anything/rewrite/path');
  assert.equal(docs('/anything/stores/us/buildings'), '/anything/stores/us/buildings');
  assert.equal(docs('/get/stores/us/entities'), '/get/stores/us/entities');
  // Not anchored at the end: the rest of the path stays.
  assert.equal(docs('/anything/stores/us/entities/extra'), '/anything/rewrite/path/extra');
  // Greedy: up to the last "/entities".
  assert.equal(docs('/anything/stores/a/entities/b/entities'), '/anything/rewrite/path');
});

test('no match leaves the path as it is; ^ anchors at the start of the path only, not where the search resumes', () => {
  assert.equal(rw('^/v1', '/v2', '/api/v1'), '/api/v1');
  assert.equal(rw('^/a', '/b', '/a/a/a'), '/b/a/a');
  assert.equal(rw('/a$', '/b', '/a/a/a'), '/a/a/b');
});

test("empty matches: one at the start and after each character, none right where a match ended (RE2's rule)", () => {
  assert.equal(rw('x*', '-', '/ab'), '-/-a-b-');
  assert.equal(rw('a*', '-', 'baaac'), '-b-c-');
  assert.equal(rw('', '-', '/é😀'), '-/-é-😀-');
  assert.equal(rw('$', '/index', '/docs/'), '/docs//index');
});

test('substitution escapes: \\0 the whole match, \\\\ a backslash, a group that did not take part is empty, $1 is literal', () => {
  assert.equal(rw('/v([0-9]+)', '[\\0]', '/v12/x'), '[/v12]/x');
  assert.equal(rw('/a', '\\\\', '/a/b'), '\\/b');
  assert.equal(rw('/(a)|/(b)', '<\\1\\2>', '/a/b'), '<a><b>');
  assert.equal(rw('/(a)', '/$1', '/a'), '/$1');
  // \10 is group 1 then "0".
  assert.equal(rw('/(a)', '/\\10', '/a'), '/a0');
});

test("an escape RE2 does not know ends that match's substitution; a group the pattern lacks leaves every path alone", () => {
  assert.equal(rw('/(?P<v>[a-z]+)', '/x\\g<v>', '/abc/def'), '/x/x');
  assert.equal(rw('/a', '/b\\', '/a/a'), '/b/b');
  const r = compilePathRegex('/(a)', '/\\2');
  assert.ok(r.ok);
  assert.equal(r.rewrite.refused, true);
  assert.equal(regexRewritePath(r.rewrite, '/a'), '/a');
  assert.equal(maxSubmatch('\\9\\g\\3'), 9);
  assert.deepEqual(badEscape('/a\\1\\\\b\\g<x>'), { index: 7, text: '\\g' });
  assert.equal(badEscape('/a\\1\\\\'), undefined);
  assert.deepEqual(badEscape('/a\\'), { index: 2, text: '\\' });
});

test('a pattern RE2 refuses is an error that says why (lookaround, a bad group)', () => {
  const look = compilePathRegex('^/(?!admin)', '/');
  assert.ok(!look.ok);
  assert.match(look.error, /^invalid regular expression "\^\/\(\?!admin\)" \(RE2 syntax, as Envoy reads it\): .*lookaround assertions are not supported by RE2/);
  const open = compilePathRegex('/(a', '/');
  assert.ok(!open.ok);
  assert.match(open.error, /missing closing \)/);
});
