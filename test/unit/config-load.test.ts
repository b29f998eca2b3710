import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { configFingerprint, loadManifests, loadManifestsFromText, MAX_DOCUMENTS, MAX_FILE_BYTES, MAX_RESOURCES } from '../../src/config/load.js';
import { sourceOf } from '../../src/config/resource.js';

const doc = (kind: string, name: string, ns?: string): string =>
  `apiVersion: gateway.kgateway.dev/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}spec: {}\n`;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('load: multi-document YAML, empty documents skipped, namespace defaulted', () => {
  const text = `---\n# only a comment\n---\n${doc('Backend', 'a')}---\n---\n${doc('Backend', 'b', 'apps')}...\n`;
  const r = loadManifestsFromText(text, 'm.yaml');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(
    r.resources.map((x) => `${x.kind}/${x.namespace}/${x.name}`),
    ['Backend/default/a', 'Backend/apps/b'],
  );
  assert.equal(r.resources[0]!.source, 'm.yaml:4');
  assert.equal(r.resources[1]!.source, 'm.yaml:11');
});

test('load: every field path has a line', () => {
  const text = `apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata:
  name: e
spec:
  jwt:
    providers:
    - name: p
      issuer: x
      jwks:
        remote:
          url: https://x/jwks
`;
  const [r] = loadManifestsFromText(text, 'e.yaml').resources;
  assert.ok(r);
  assert.equal(r.lines?.get('spec.jwt.providers[0]'), 8);
  assert.equal(r.lines?.get('spec.jwt.providers[0].issuer'), 9);
  assert.equal(sourceOf(r, 'spec.jwt.providers[0].jwks.remote.url'), 'e.yaml:12');
  // A path that does not exist falls back to its nearest ancestor.
  assert.equal(sourceOf(r, 'spec.jwt.providers[0].jwks.remote.backendRef.port'), 'e.yaml:11');
});

test('load: kind List items are expanded with their own lines', () => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two, namespace: x}
  data: {jwks: abc}
`;
  const r = loadManifestsFromText(text, 'l.yaml');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.resources.map((x) => `${x.name}@${x.source}`), ['one@l.yaml:4', 'two@l.yaml:7']);
  assert.equal(r.resources[1]!.lines?.get('data.jwks'), 10);
});

test('load: YAML syntax errors are problems with file:line:col, other documents still load', () => {
  const text = `${doc('Backend', 'ok')}---\nkind: Backend\nmetadata:\n  name: [unclosed\n---\n${doc('Backend', 'also-ok')}`;
  const r = loadManifestsFromText(text, 'bad.yaml');
  assert.deepEqual(r.resources.map((x) => x.name), ['ok', 'also-ok']);
  assert.ok(r.problems.length >= 1);
  assert.equal(r.problems[0]!.severity, 'error');
  assert.match(r.problems[0]!.message, /^YAML syntax error/);
  assert.match(r.problems[0]!.source!, /^bad\.yaml:\d+:\d+$/);
});

test('load: duplicate keys, non-mapping documents and missing identity are problems', () => {
  const r = loadManifestsFromText(`kind: Backend\nkind: Backend\n---\n- a\n- b\n---\napiVersion: v1\nmetadata: {name: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n`, 'p.yaml');
  assert.equal(r.resources.length, 0);
  const msgs = r.problems.map((p) => `${p.resource} ${p.path}: ${p.message}`);
  assert.ok(msgs.some((m) => /YAML syntax error: Map keys must be unique/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /document is not a mapping/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('?/default/x kind: Required value')), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('ConfigMap/default/? metadata.name: Required value')), msgs.join('\n'));
});

test('load: a duplicate key is found at any depth, in block and flow mappings, and reported at its own line; equal names in different mappings are not duplicates', () => {
  const dupLines = (text: string) => {
    const r = loadManifestsFromText(text, 'd.yaml');
    const dups = r.problems.filter((p) => /Map keys must be unique/.test(p.message));
    // The line only (file:line:col): the column is asserted in the test after this one.
    return { lines: dups.map((p) => p.source?.replace(/:\d+$/, '')), names: r.resources.map((x) => x.name) };
  };
  const head = 'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: Backend\nmetadata: { name: b }\n';
  // Line 6: in a mapping inside a sequence inside a mapping.
  assert.deepEqual(dupLines(`${head}spec:\n  list:\n  - a: 1\n    a: 2\n  other: { a: 1 }\n`), { lines: ['d.yaml:7'], names: [] });
  // A flow mapping, the key written once plain and once quoted (the same string), and an anchored key.
  assert.deepEqual(dupLines(`${head}spec: { x: 1, "x": 2 }\n`), { lines: ['d.yaml:4'], names: [] });
  assert.deepEqual(dupLines(`${head}spec:\n  &k y: 1\n  z: 2\n  y: 3\n`), { lines: ['d.yaml:7'], names: [] });
  // Twice in one mapping gives two errors; the next document is read.
  assert.deepEqual(dupLines(`${head}spec:\n  a: 1\n  a: 2\n  a: 3\n---\n${doc('Backend', 'next')}`), { lines: ['d.yaml:6', 'd.yaml:7'], names: ['next'] });
  // Inside a key that is itself a mapping (refused later anyway: manifest keys are strings).
  assert.deepEqual(dupLines(`${head}spec:\n  ? { a: 1, a: 2 }\n  : v\n`), { lines: ['d.yaml:5'], names: [] });
  // The same names in sibling and nested mappings, and `1` against "1" (an int and a string, as the
  // yaml package compares them), are not duplicates.
  assert.deepEqual(dupLines(`${head}spec:\n  a: { a: { a: 1 } }\n  b: { a: 1 }\n  c: [{ a: 1 }, { a: 1 }]\n`), { lines: [], names: ['b'] });
  // 40,000 keys in one mapping (550 KB), the last a repeat of the first: one pass finds it (the
  // yaml package's own check compared every key with every key before it: 12 s for this file).
  const many = Array.from({ length: 40_000 }, (_, i) => `  k${i}: 1`).join('\n');
  assert.deepEqual(dupLines(`${head}spec:\n${many}\n  k0: 2\n`), { lines: [`d.yaml:${5 + 40_000}`], names: [] });
  assert.deepEqual(dupLines(`${head}spec:\n${many}\n`), { lines: [], names: ['b'] });
});

test('load: an unclosed flow sequence, flow map or quote is reported at file:line:col where it opens (not at the next line, where the parser noticed it); a duplicate key names the key, its field path and its first line', () => {
  const problems = (text: string) => loadManifestsFromText(text, 'y.yaml').problems.map((p) => [p.source, p.path, p.message]);
  const head = 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n';
  assert.deepEqual(problems(`${head}  namespace: [a\nspec:\n  parentRefs: [{name: gw}]\n`), [
    ['y.yaml:5:14', '', 'YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ] (the `[` opened here is not closed; the parser noticed at line 6, column 1)'],
  ]);
  assert.deepEqual(problems(`${head}  labels: {a: b\nspec: {}\n`), [
    ['y.yaml:5:11', '', 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a } (the `{` opened here is not closed; the parser noticed at line 6, column 1)'],
  ]);
  assert.deepEqual(problems(`${head}  namespace: "a\nspec: {}\n`), [
    ['y.yaml:5:14', '', 'YAML syntax error: Missing closing "quote (the quote " opened here is not closed; the parser noticed at line 7, column 1)'],
  ]);
  // Other errors keep the parser's position, with its column.
  assert.deepEqual(problems('apiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: r\n  namespace: x\n'), [['y.yaml:5:1', '', 'YAML syntax error: All mapping items must start at the same column']]);
  assert.deepEqual(problems(`${head}  name: s\nspec:\n  rules:\n  - matches: []\n    matches: []\n`), [
    ['y.yaml:5:3', 'metadata.name', 'YAML syntax error: Map keys must be unique: "name" is defined twice (metadata.name), first at line 4'],
    ['y.yaml:9:5', 'spec.rules[0].matches', 'YAML syntax error: Map keys must be unique: "matches" is defined twice (spec.rules[0].matches), first at line 8'],
  ].reverse());
  assert.deepEqual(problems('kind: A\nkind: B\n').map((p) => p[2]), ['YAML syntax error: Map keys must be unique: "kind" is defined twice, first at line 1']);
});

test('load: several JSON objects in one file (jq -c \'.items[]\', one per line, or pretty-printed one after the other) are read as several documents, with the lines and columns of the file', () => {
  const cm = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra }, data: { a: '{"x": "}"}' } });
  const compact = [cm('a'), cm('b', { labels: { k: 1 } }), cm('c')].map((o) => JSON.stringify(o)).join('\n') + '\n';
  const r = loadManifestsFromText(compact, 's.json');
  assert.deepEqual(r.resources.map((x) => `${x.name}@${x.source}`), ['a@s.json:1', 'b@s.json:2', 'c@s.json:3']);
  assert.deepEqual(r.problems.map((p) => [p.resource, p.path, p.source]), [['ConfigMap/default/b', 'metadata.labels.k', 's.json:2']]);
  const pretty = [cm('a'), cm('b'), cm('c')].map((o) => JSON.stringify(o, null, 2)).join('\n');
  const p = loadManifestsFromText(pretty, 'p.json');
  assert.deepEqual(p.resources.map((x) => `${x.name}@${x.source}:${x.lines?.get('data.a')}`), ['a@p.json:1:8', 'b@p.json:11:18', 'c@p.json:21:28']);
  assert.deepEqual(p.problems, []);
  // A syntax error in the second object is at its own line and column.
  const broken = loadManifestsFromText(`${JSON.stringify(cm('a'))}\n{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "name": "c"}}\n`, 'b.json');
  assert.deepEqual(broken.problems.map((q) => [q.source, q.path]), [['b.json:2:69', 'metadata.name']]);
  assert.deepEqual(broken.resources.map((x) => x.name), ['a']);
});

test('load: JSON manifests', () => {
  const r = loadManifestsFromText(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j', namespace: 'n' }, data: { jwks: '{}' } }), 'c.json');
  assert.deepEqual(r.problems, []);
  assert.equal(r.resources[0]!.namespace, 'n');
});

test('load: folders are read recursively and in sorted order; dot entries and other extensions skipped', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'b', 'nested'), { recursive: true });
  mkdirSync(path.join(dir, '..2024_01_01'), { recursive: true });
  writeFileSync(path.join(dir, 'z.yaml'), doc('Backend', 'z'));
  writeFileSync(path.join(dir, 'a.yml'), doc('Backend', 'a'));
  writeFileSync(path.join(dir, 'b', 'nested', 'n.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'n' } }));
  writeFileSync(path.join(dir, 'b', 'm.yaml'), doc('Backend', 'm'));
  writeFileSync(path.join(dir, 'notes.txt'), 'not yaml: [');
  writeFileSync(path.join(dir, '.hidden.yaml'), doc('Backend', 'hidden'));
  writeFileSync(path.join(dir, '..2024_01_01', 'dup.yaml'), doc('Backend', 'dup'));
  symlinkSync('..2024_01_01', path.join(dir, '..data'));
  const r = await loadManifests([dir]);
  // A hidden manifest is skipped with a warning (kubectl apply -f DIR would read it); the
  // ConfigMap mount's `..` entries silently.
  assert.deepEqual(
    r.problems.map((p) => [p.severity, p.resource, p.message]),
    [['warning', path.join(dir, '.hidden.yaml'), 'skipped: a hidden file (its name starts with "."); rename it to have it read']],
  );
  assert.deepEqual(r.resources.map((x) => x.name), ['a', 'm', 'n', 'z']);
  assert.equal(r.resources[0]!.source, `${path.join(dir, 'a.yml')}:1`);
  // A file named explicitly is read even with another extension; duplicates are read once.
  const r2 = await loadManifests([path.join(dir, 'z.yaml'), path.join(dir, 'z.yaml'), path.join(dir, 'notes.txt')]);
  assert.deepEqual(r2.resources.map((x) => x.name), ['z']);
  assert.equal(r2.problems.length, 1);
  assert.match(r2.problems[0]!.message, /YAML syntax error/);
});

test('load: a symbolic link whose target is gone is an error (a policy must not drop out silently); a link loop is read once, with a warning', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, '00-a.yaml'), doc('Backend', 'a'));
  symlinkSync('/nonexistent/jwtgate/10-jwt.yaml', path.join(dir, '10-jwt.yaml'));
  // A dangling link with a name the loader never reads is none of its business.
  symlinkSync('/nonexistent/jwtgate/notes.txt', path.join(dir, 'notes.txt'));
  mkdirSync(path.join(dir, 'sub'));
  symlinkSync('..', path.join(dir, 'sub', 'up'));
  const r = await loadManifests([dir]);
  assert.deepEqual(r.resources.map((x) => x.name), ['a'], 'each file once, whatever the loop');
  assert.deepEqual(
    r.problems.map((p) => [p.severity, p.resource, p.message.replace(/: ENOENT.*\(/, ': ENOENT … (')]),
    [
      ['error', path.join(dir, '10-jwt.yaml'), 'cannot read: ENOENT … (a symbolic link whose target cannot be read)'],
      ['warning', path.join(dir, 'sub', 'up'), `skipped: the same folder as ${realpathSync(dir)}, already read (a symbolic link loop?)`],
    ],
  );
});

test('load: YAML merge keys (<<), which kubectl accepts, are expanded', () => {
  const text = 'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec:\n  listeners:\n  - &http { name: http, protocol: HTTP, port: 8080 }\n  - <<: *http\n    name: http2\n    port: 8081\n';
  const r = loadManifestsFromText(text, 'm.yaml');
  assert.deepEqual(r.problems, []);
  assert.deepEqual((r.resources[0]!.object.spec as { listeners: unknown[] }).listeners, [
    { name: 'http', protocol: 'HTTP', port: 8080 },
    { name: 'http2', protocol: 'HTTP', port: 8081 },
  ]);
});

test('load: a file that is not UTF-8 (Latin-1, UTF-16) is an error, not values with U+FFFD; a UTF-8 BOM is fine', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'latin1.yaml'), Buffer.from(doc('Backend', 'caf\xe9'), 'latin1'));
  writeFileSync(path.join(dir, 'utf16.yaml'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc('Backend', 'b'), 'utf16le')]));
  writeFileSync(path.join(dir, 'bom.yaml'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(doc('Backend', 'c'))]));
  const r = await loadManifests([dir]);
  assert.deepEqual(r.resources.map((x) => x.name), ['c']);
  assert.deepEqual(
    r.problems.map((p) => [path.basename(p.resource), p.message]),
    [
      ['latin1.yaml', 'is not UTF-8 text (Kubernetes manifests are UTF-8): save it as UTF-8'],
      ['utf16.yaml', 'is not UTF-8 text (Kubernetes manifests are UTF-8): save it as UTF-8'],
    ],
  );
});

test('load: a missing path is a problem, not a crash', async () => {
  const r = await loadManifests(['/nonexistent/jwtgate/config']);
  assert.equal(r.resources.length, 0);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]!.message, /cannot read/);
});

test('load: files over 4 MiB are refused', async (t) => {
  const dir = tempDir(t);
  const big = path.join(dir, 'big.yaml');
  writeFileSync(big, `${doc('Backend', 'x')}# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
  const r = await loadManifests([big]);
  assert.equal(r.resources.length, 0);
  assert.match(r.problems[0]!.message, /limit is 4194304 bytes \(4 MiB\)/);
});

test('load: the 4 MiB file limit is exact (a file of 4 MiB loads, one byte more is refused); an empty metadata.namespace is the default namespace, as kubectl reads it', async (t) => {
  const dir = tempDir(t);
  const sized = (bytes: number): string => {
    const head = `${doc('Backend', 'x')}# `;
    const file = path.join(dir, `f${bytes}.yaml`);
    writeFileSync(file, `${head}${'x'.repeat(bytes - Buffer.byteLength(head) - 1)}\n`);
    return file;
  };
  const atLimit = await loadManifests([sized(MAX_FILE_BYTES)]);
  assert.deepEqual(atLimit.problems, []);
  assert.equal(atLimit.resources.length, 1);
  const over = await loadManifests([sized(MAX_FILE_BYTES + 1)]);
  assert.equal(over.resources.length, 0);
  assert.match(over.problems[0]!.message, /limit is 4194304 bytes/);
  const [r] = loadManifestsFromText('apiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: p, namespace: "" }\nspec: {}\n', 'ns.yaml').resources;
  assert.equal(r?.namespace, 'default');
});

test('load: more than 10000 resources are refused with one problem', () => {
  const one = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%}\n';
  const text = Array.from({ length: MAX_RESOURCES + 5 }, (_, i) => one.replace('%', String(i))).join('---\n');
  const r = loadManifestsFromText(text, 'many.yaml');
  assert.equal(r.resources.length, MAX_RESOURCES);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]!.message, /more than 10000 resources/);
});

test('load: labels, annotations and creationTimestamp are kept', () => {
  const r = loadManifestsFromText(
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {app: web}\n  annotations: {a: b}\n  creationTimestamp: "2024-01-02T03:04:05Z"\n`,
    'c.yaml',
  );
  const [c] = r.resources;
  assert.deepEqual(c!.labels, { app: 'web' });
  assert.deepEqual(c!.annotations, { a: 'b' });
  assert.equal(c!.creationTimestamp, '2024-01-02T03:04:05Z');
});

test('a resource-level loader problem names the field and its own line, not the document start', async () => {
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\n  labels:\n    app: x\n    version: 2\ndata: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: 7\n  name: n\n';
  const r = loadManifestsFromText(text, 'm.yaml');
  const label = r.problems.find((p) => p.path === 'metadata.labels.version')!;
  assert.equal(label.resource, 'ConfigMap/default/unrelated');
  assert.equal(label.source, 'm.yaml:7');
  assert.equal(label.message, 'must be a string (quote it: "2")');
  assert.equal(r.problems.find((p) => p.path === 'metadata.namespace')?.source, 'm.yaml:13');
  // serve refuses such a configuration with the resource, the field and the line.
  const { compileFiles } = await import('../../src/config/build.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-loadline-'));
  try {
    writeFileSync(path.join(dir, 'm.yaml'), text);
    await assert.rejects(compileFiles([dir], { generation: 1 }, { loadErrorsFatal: true }), (err: Error) => err.message.includes(`ConfigMap/default/unrelated metadata.labels.version (${path.join(dir, 'm.yaml')}:7): must be a string`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('load: old Mac line endings (a lone CR), which YAML 1.2 and kubectl read as line breaks, are read so (the file read as one comment: empty)', () => {
  const text = `# policy\n${doc('Backend', 'a')}---\n${doc('Backend', 'b')}`.replace(/\n/g, '\r');
  const r = loadManifestsFromText(text, 'cr.yaml');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.resources.map((x) => `${x.name}@${x.source}`), ['a@cr.yaml:2', 'b@cr.yaml:8']);
});

test('load: a byte order mark at the start of a later document (files concatenated) is dropped', () => {
  const r = loadManifestsFromText(`${doc('Backend', 'a')}---\n\uFEFF${doc('Backend', 'b')}`, 'bom.yaml');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.resources.map((x) => x.name), ['a', 'b']);
});

test('load: documents count toward a limit whether they are valid or not (4 MiB of `--- {}` made millions of problems)', () => {
  const r = loadManifestsFromText('--- {}\n'.repeat(MAX_DOCUMENTS + 500), 'many.yaml');
  // Three problems per `{}` (no kind, apiVersion, metadata), then the limit.
  assert.equal(r.problems.length, 3 * MAX_DOCUMENTS + 1);
  assert.match(r.problems.at(-1)!.message, new RegExp(`^more than ${MAX_DOCUMENTS} documents: this one and the rest are not read`));
});

test('load: typed lists (TrafficPolicyList), empty lists, bad items and nested lists', () => {
  const r = loadManifestsFromText(
    `apiVersion: v1\nkind: BackendList\nitems:\n- ${doc('Backend', 'a').replace(/\n(?=.)/g, '\n  ')}---\napiVersion: v1\nkind: List\nitems: null\n---\napiVersion: v1\nkind: List\nitems: {a: 1}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n`,
    'lists.yaml',
  );
  assert.deepEqual(r.resources.map((x) => x.name), ['a']);
  assert.deepEqual(
    r.problems.map((p) => p.message),
    ['a List with no items: it holds no resources', "a List's items must be a list of resources", 'items[0]: a list inside a list is not supported: write its items in the outer list'],
  );
});

test('load: an unknown tag is a warning; nesting too deep to read is said as such', () => {
  const tagged = loadManifestsFromText(doc('Backend', 'a').replace('spec: {}', 'spec: {x: !Ref y}'), 't.yaml');
  assert.deepEqual(tagged.problems.map((p) => [p.severity, p.message]), [['warning', 'YAML: Unresolved tag: !Ref']]);
  const deep = loadManifestsFromText(`a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, 'deep.yaml');
  assert.ok(deep.problems.some((p) => /nested too deeply/.test(p.message)), JSON.stringify(deep.problems.map((p) => p.message)));
});

test('load: a config path that is a pipe or device is read up to 4 MiB (/dev/zero used to fill memory)', async () => {
  const r = await loadManifests(['/dev/zero']);
  assert.deepEqual(r.resources, []);
  assert.match(r.problems[0]!.message, /more than 4194304 bytes \(4 MiB\) read from it \(not a regular file\)/);
});

test('load: the 4 MiB limit of an in-memory text is in UTF-8 bytes, not UTF-16 units (found by mutation testing)', () => {
  // 1.5 Mi characters of 3 UTF-8 bytes each: 4.5 MiB.
  const text = `# ${'\u20ac'.repeat(1.5 * 1024 * 1024)}\n${doc('Backend', 'a')}`;
  const r = loadManifestsFromText(text, 'big.yaml');
  assert.deepEqual(r.resources, []);
  assert.match(r.problems[0]!.message, /larger than 4194304 bytes/);
});

test('load: a kustomization.yaml written without apiVersion (kind: Kustomization) is the fatal kustomize error, not a missing apiVersion', () => {
  const r = loadManifestsFromText('kind: Kustomization\nresources:\n- policy.yaml\n', 'dir/kustomization.yaml');
  assert.deepEqual(r.resources, []);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]!.fatal, true);
  assert.match(r.problems[0]!.message, /a kustomize file \(Kustomization\), not a manifest: render it with `kubectl kustomize dir`/);
});

test('load: a quoted template in a naming field is warned about in ConfigMaps and Secrets and in hostnames lists; several templates are each reported', () => {
  const cm = loadManifestsFromText("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{{ .Values.name }}'\ndata: {}\n", 'cm.yaml');
  assert.deepEqual(cm.problems.map((p) => [p.path, p.severity]), [['metadata.name', 'warning']]);
  const route = loadManifestsFromText(
    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\nspec:\n  hostnames:\n  - '{{ .Values.host }}'\n",
    'r.yaml',
  );
  assert.deepEqual(route.problems.map((p) => [p.path, p.severity, p.source]), [['spec.hostnames[0]', 'warning', 'r.yaml:7']]);
  const unquoted = loadManifestsFromText('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.a }}\n  namespace: {{ .Values.b }}\n', 't.yaml');
  assert.deepEqual(unquoted.problems.map((p) => [p.path, p.source, p.fatal]), [['metadata.name', 't.yaml:4', true], ['metadata.namespace', 't.yaml:5', true]]);
});

test('load: a `{{ … }}` in a comment of a document with a syntax error is not called a template', () => {
  const r = loadManifestsFromText('apiVersion: v1\n# values: {{ .Values.x }}\nkind: [ConfigMap\n', 's.yaml');
  assert.ok(r.problems.length > 0);
  assert.ok(r.problems.every((p) => !/template/.test(p.message)), JSON.stringify(r.problems));
});

test('load: alias expansion is bounded (a billion-laughs document is a problem, not gigabytes)', () => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 6; i++) lines.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(10).fill(`*${'abcdefghij'[i - 1]}`).join(', ')}]`);
  const r = loadManifestsFromText(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\n${lines.join('\n')}\n`, 'lol.yaml');
  assert.deepEqual(r.resources, []);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0]!.message, /^YAML: .*alias/i);
});

test('load: the 4 MiB limit of a pipe is exact: 4 MiB of manifest through a FIFO loads, one byte more is refused (found by mutation testing)', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { createWriteStream } = await import('node:fs');
  const dir = tempDir(t);
  const feed = async (bytes: number) => {
    const fifo = path.join(dir, `pipe-${bytes}`);
    execFileSync('mkfifo', [fifo]);
    const body = doc('Backend', 'a');
    const buf = Buffer.alloc(bytes, ' ');
    buf.write(body, 0);
    buf.write('\n', bytes - 1);
    const w = createWriteStream(fifo);
    w.on('error', () => {}); // the reader stops early when over the limit
    w.end(buf);
    return loadManifests([fifo]);
  };
  const at = await feed(MAX_FILE_BYTES);
  assert.deepEqual([at.problems, at.resources.map((r) => r.name)], [[], ['a']]);
  const over = await feed(MAX_FILE_BYTES + 1);
  assert.deepEqual(over.resources, []);
  assert.match(over.problems[0]!.message, /more than 4194304 bytes \(4 MiB\) read from it \(not a regular file\)/);
});

test('load: a config path that cannot be opened although stat sees it (a Unix socket) is "cannot read" with the reason, and the rest is loaded', async (t) => {
  const dir = tempDir(t);
  const sock = path.join(dir, 'policy.yaml');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.after(() => server.close());
  writeFileSync(path.join(dir, 'b.yaml'), doc('Backend', 'b'));
  const r = await loadManifests([sock, path.join(dir, 'b.yaml')]);
  assert.deepEqual(r.resources.map((x) => `${x.kind}/${x.name}`), ['Backend/b']);
  assert.deepEqual(r.problems.map((p) => [p.severity, p.resource, p.path, p.message, p.source]), [['error', sock, '', `cannot read: ENXIO: no such device or address, open '${sock}'`, sock]]);
});

test('load: List items that are not mappings are each an error at their line, named by index; the mapping items are read', () => {
  const r = loadManifestsFromText(`apiVersion: v1\nkind: List\nitems:\n- 42\n- [a]\n- ${JSON.stringify(JSON.parse('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}'))}\n`, 'l.yaml');
  assert.deepEqual(r.resources.map((x) => `${x.kind}/${x.name}`), ['ConfigMap/c']);
  assert.deepEqual(r.problems.map((p) => [p.severity, p.resource, p.message, p.source]), [
    ['error', 'l.yaml', 'items[0]: not a mapping (expected apiVersion, kind, metadata, spec)', 'l.yaml:4'],
    ['error', 'l.yaml', 'items[1]: not a mapping (expected apiVersion, kind, metadata, spec)', 'l.yaml:5'],
  ]);
});

test('load: metadata.labels or annotations that are not a map are an error at their path and line; the resource is read without them', () => {
  const r = loadManifestsFromText('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: "app=x"\n  annotations: [a]\n', 'm.yaml');
  assert.deepEqual(r.problems.map((p) => [p.severity, p.resource, p.path, p.message, p.source]), [
    ['error', 'ConfigMap/default/a', 'metadata.labels', 'must be a map of strings', 'm.yaml:5'],
    ['error', 'ConfigMap/default/a', 'metadata.annotations', 'must be a map of strings', 'm.yaml:6'],
  ]);
  assert.deepEqual(r.resources[0]!.labels, {});
});

test('configFingerprint (--watch-config-ms): changes when a manifest is rewritten, added, removed or swapped in as a ConfigMap mount does; not for hidden or other files; never reads contents', async (t) => {
  const dir = tempDir(t);
  // A ConfigMap mount: app.yaml -> ..data/app.yaml, ..data -> ..2026_11_30_01.
  mkdirSync(path.join(dir, '..2026_11_30_01'));
  writeFileSync(path.join(dir, '..2026_11_30_01', 'app.yaml'), doc('Backend', 'a'));
  symlinkSync('..2026_11_30_01', path.join(dir, '..data'));
  symlinkSync(path.join('..data', 'app.yaml'), path.join(dir, 'app.yaml'));
  const first = await configFingerprint([dir]);
  assert.equal(await configFingerprint([dir]), first, 'the same files: the same fingerprint');
  assert.equal(first.split('\n').length, 1, 'one manifest (..data itself is skipped)');
  writeFileSync(path.join(dir, 'notes.txt'), 'x');
  writeFileSync(path.join(dir, '.hidden.yaml'), doc('Backend', 'h'));
  assert.equal(await configFingerprint([dir]), first, 'other names and hidden files are not manifests');
  // kubelet's update: a new timestamped folder, then ..data swapped to it.
  mkdirSync(path.join(dir, '..2026_11_30_02'));
  writeFileSync(path.join(dir, '..2026_11_30_02', 'app.yaml'), doc('Backend', 'b'));
  symlinkSync('..2026_11_30_02', path.join(dir, '..data_tmp'));
  const { renameSync } = await import('node:fs');
  renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  const swapped = await configFingerprint([dir]);
  assert.notEqual(swapped, first);
  writeFileSync(path.join(dir, 'more.yml'), doc('Backend', 'c'));
  const added = await configFingerprint([dir]);
  assert.notEqual(added, swapped);
  assert.equal(added.split('\n').length, 2);
  rmSync(path.join(dir, 'more.yml'));
  assert.equal(await configFingerprint([dir]), swapped, 'removed again: as before');
  // A named file, and a path that is gone.
  const named = path.join(dir, '..data', 'app.yaml');
  const one = await configFingerprint([named]);
  assert.match(one, /app\.yaml\0\d+:\d+:\d+:/);
  assert.match(await configFingerprint([path.join(dir, 'gone.yaml')]), /gone\.yaml\0ENOENT$/);
});
