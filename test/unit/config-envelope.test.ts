// The document envelope: apiVersion (group and version) of the kinds jwtgate serves, metadata
// keys, `kind: List` keys, files that hold no resources, unrendered templates, kustomize files.
// Each of these once dropped a resource (a TrafficPolicy, an HTTPRoute) with at most a warning,
// and its routes were served without their JWT check.

import test from 'node:test';
import assert from 'node:assert/strict';
import { keyPair } from '../fixtures/auth/keys.js';
import { KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compileFiles, compileText } from '../../src/config/build.js';
import { loadManifests, loadManifestsFromText } from '../../src/config/load.js';
import type { ConfigProblem } from '../../src/errors.js';

const JWKS = JSON.stringify({ keys: [{ ...keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }] });
const ext: Doc = { apiVersion: KGW, kind: 'GatewayExtension', metadata: md('ext'), spec: { jwt: { providers: [{ name: 'p', issuer: 'iss', jwks: { local: { inline: JWKS } } }] } } };
const policy = (o: Doc = {}): Doc => ({
  apiVersion: KGW,
  kind: 'TrafficPolicy',
  metadata: md('pol'),
  spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwtAuth: { extensionRef: { name: 'ext' } } },
  ...o,
});

function problems(docs: Doc[]): readonly ConfigProblem[] {
  return compileText(docs.map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 't.yaml').problems;
}
const about = (ps: readonly ConfigProblem[], resource: string): ConfigProblem[] => ps.filter((p) => p.resource === resource);

test('a kind jwtgate serves in another group is a fatal error that says what apiVersion to write, not "ignored"', () => {
  const cases: [Doc, string, string][] = [
    [policy({ apiVersion: 'kgateway.dev/v1alpha1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group kgateway.dev is not kgateway\'s: write apiVersion: gateway.kgateway.dev/v1alpha1'],
    [policy({ apiVersion: 'gateway.kgateway.io/v1alpha1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group gateway.kgateway.io is not kgateway\'s: write apiVersion: gateway.kgateway.dev/v1alpha1'],
    [policy({ apiVersion: 'gateway.solo.io/v1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group gateway.solo.io is not kgateway\'s'],
    [policy({ apiVersion: 'gloo.solo.io/v1alpha1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group gloo.solo.io is not kgateway\'s'],
    [policy({ apiVersion: 'v1alpha1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group "" (the core group: apiVersion has no group) is not kgateway\'s'],
    [{ ...ext, apiVersion: 'gateway.solo.io/v1' }, 'GatewayExtension/default/ext', 'GatewayExtension in group gateway.solo.io is not kgateway\'s: write apiVersion: gateway.kgateway.dev/v1alpha1'],
    [{ ...route({}, 'admin'), apiVersion: 'networking.k8s.io/v1' }, 'HTTPRoute/default/admin', 'HTTPRoute in group networking.k8s.io is not Gateway API\'s: write apiVersion: gateway.networking.k8s.io/v1'],
    [{ ...gateway({}, 'gw2'), apiVersion: 'networking.x-k8s.io/v1alpha1' }, 'Gateway/default/gw2', 'Gateway in group networking.x-k8s.io is not Gateway API\'s'],
    [policy({ apiVersion: 'networking.k8s.io/v1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group networking.k8s.io is not kgateway\'s'],
    [{ ...route({}, 'admin'), apiVersion: 'kgateway.dev/v1' }, 'HTTPRoute/default/admin', 'HTTPRoute in group kgateway.dev is not Gateway API\'s'],
    [policy({ apiVersion: 'gateway.gloo.solo.io/v1alpha1' }), 'TrafficPolicy/default/pol', 'TrafficPolicy in group gateway.gloo.solo.io is not kgateway\'s'],
    [{ apiVersion: 'gateway.kgateway.dev/v1alpha2', kind: 'ReferenceGrant', metadata: md('rg'), spec: {} }, 'ReferenceGrant/default/rg', 'ReferenceGrant in group gateway.kgateway.dev is not Gateway API\'s: write apiVersion: gateway.networking.k8s.io/v1beta1'],
  ];
  for (const [doc, resource, message] of cases) {
    const ps = about(problems([gateway(), route(), ext, policy(), doc]), resource);
    const p = ps.find((x) => x.path === 'apiVersion');
    assert.ok(p, `${resource}: ${JSON.stringify(ps)}`);
    assert.equal(p.severity, 'error');
    assert.equal(p.fatal, true, message);
    assert.ok(p.message.startsWith(message), `${p.message}\n  wanted: ${message}`);
    assert.ok(!ps.some((x) => /does not use it/.test(x.message)), JSON.stringify(ps));
  }
});

test("another project's CRD named like a kind jwtgate serves is only warned about, saying whose it is", () => {
  const foreign: [string, string, string][] = [
    ['networking.istio.io/v1', 'Gateway', "not Gateway API's Gateway (group networking.istio.io: Istio's Gateway): ignored"],
    ['gateway.solo.io/v1', 'Gateway', "not Gateway API's Gateway (group gateway.solo.io: Gloo Edge's Gateway): ignored"],
    ['policy.linkerd.io/v1beta3', 'HTTPRoute', "not Gateway API's HTTPRoute (group policy.linkerd.io: Linkerd's HTTPRoute): ignored"],
    ['networking.mesh.gloo.solo.io/v1', 'TrafficPolicy', "not kgateway's TrafficPolicy (group networking.mesh.gloo.solo.io: Gloo Mesh's TrafficPolicy): ignored"],
    ['gateway.envoyproxy.io/v1alpha1', 'Backend', "not kgateway's Backend (group gateway.envoyproxy.io: Envoy Gateway's Backend): ignored"],
    // Any other project's group (not a slip for kgateway's or Gateway API's): real CRDs the API
    // server accepts and kgateway ignores; a folder holding one must still serve.
    ['ingress.v1.haproxy.org/v1', 'Backend', "not kgateway's Backend (group ingress.v1.haproxy.org: another project's Backend): ignored"],
    ['apimanagement.azure.com/v1api20220801', 'Backend', "not kgateway's Backend (group apimanagement.azure.com: another project's Backend): ignored"],
    ['storagegateway.aws.upbound.io/v1beta1', 'Gateway', "not Gateway API's Gateway (group storagegateway.aws.upbound.io: another project's Gateway): ignored"],
    // Solo.io's Service Mesh Hub has a TrafficPolicy CRD of its own: not a slip for kgateway's.
    ['networking.smh.solo.io/v1alpha2', 'TrafficPolicy', "not kgateway's TrafficPolicy (group networking.smh.solo.io: another project's TrafficPolicy): ignored"],
  ];
  for (const [apiVersion, kind, message] of foreign) {
    const ps = about(problems([gateway(), { apiVersion, kind, metadata: md('x'), spec: {} }]), `${kind}/default/x`);
    assert.deepEqual(ps.map((p) => [p.severity, p.path, p.message, p.fatal]), [['warning', 'kind', message, undefined]]);
  }
});

test('a version the CRD does not serve is an error: kgateway kinds only v1alpha1; Gateway API v1alpha2 of Gateway, HTTPRoute, ReferenceGrant is no longer served', () => {
  const bad: [Doc, string, RegExp][] = [
    [policy({ apiVersion: 'gateway.kgateway.dev/v1' }), 'TrafficPolicy/default/pol', /^gateway\.kgateway\.dev\/v1 TrafficPolicy is not a version the kgateway CRD serves \(gateway\.kgateway\.dev\/v1alpha1\): write apiVersion: gateway\.kgateway\.dev\/v1alpha1/],
    [{ ...ext, apiVersion: 'gateway.kgateway.dev/v1beta1' }, 'GatewayExtension/default/ext', /not a version the kgateway CRD serves/],
    [{ ...route(), apiVersion: 'gateway.networking.k8s.io/v1alpha2' }, 'HTTPRoute/default/app', /^gateway\.networking\.k8s\.io\/v1alpha2 HTTPRoute is no longer served by Gateway API's CRDs \(deprecated, then removed\): write apiVersion: gateway\.networking\.k8s\.io\/v1/],
    [{ ...gateway({}, 'gw2'), apiVersion: 'gateway.networking.k8s.io/v1alpha2' }, 'Gateway/default/gw2', /no longer served/],
    [{ apiVersion: 'gateway.networking.k8s.io/v1alpha2', kind: 'ReferenceGrant', metadata: md('rg'), spec: {} }, 'ReferenceGrant/default/rg', /no longer served.*write apiVersion: gateway\.networking\.k8s\.io\/v1beta1/],
    [{ ...route({}, 'r3'), apiVersion: 'gateway.networking.k8s.io/v2' }, 'HTTPRoute/default/r3', /not a version the Gateway API CRD serves \(gateway\.networking\.k8s\.io\/v1 or gateway\.networking\.k8s\.io\/v1beta1\)/],
  ];
  for (const [doc, resource, message] of bad) {
    const ps = about(problems([gateway(), ext, policy(), doc]), resource);
    const p = ps.find((x) => x.path === 'apiVersion');
    assert.ok(p && p.severity === 'error' && p.fatal === true && message.test(p.message), `${resource}: ${JSON.stringify(ps)}`);
  }
  // Served versions are used without a word.
  const ok = problems([
    { ...gateway(), apiVersion: 'gateway.networking.k8s.io/v1beta1' },
    { ...route(), apiVersion: 'gateway.networking.k8s.io/v1beta1' },
    { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: md('rg'), spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'x' }], to: [{ group: '', kind: 'Service' }] } },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ReferenceGrant', metadata: md('rg2'), spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'x' }], to: [{ group: '', kind: 'Service' }] } },
    ext,
    policy(),
  ]);
  assert.deepEqual(ok.filter((p) => p.path === 'apiVersion' || p.path === 'kind'), []);
});

test('an unknown metadata key is a fatal error with a "did you mean" (namspace: moved the policy to namespace default)', () => {
  const pol = policy({ metadata: { name: 'pol', namspace: 'apps' } });
  const ps = about(problems([gateway(), route(), ext, pol]), 'TrafficPolicy/default/pol');
  const p = ps.find((x) => x.path === 'metadata.namspace');
  assert.ok(p, JSON.stringify(ps));
  assert.equal(p.severity, 'error');
  assert.equal(p.fatal, true);
  assert.match(p.message, /^unknown field "namspace": did you mean "namespace"\? \(kubectl's strict field validation refuses it\) \(serve refuses to start/);
  // Any kind jwtgate reads; a key no field comes near says what metadata takes.
  const cm = problems([gateway(), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'jwks', lables: { a: 'b' }, foo: 1 }, data: { jwks: JWKS } }]);
  assert.deepEqual(
    about(cm, 'ConfigMap/default/jwks').map((x) => [x.path, x.fatal, x.message.replace(/ \(serve refuses.*$/, '')]),
    [
      ['metadata.lables', true, 'unknown field "lables": did you mean "labels"? (kubectl\'s strict field validation refuses it)'],
      ['metadata.foo', true, 'unknown field "foo": metadata takes name, namespace, labels, annotations and the other ObjectMeta fields (kubectl\'s strict decoding refuses it)'],
    ],
  );
  // Every ObjectMeta field, as `kubectl get -o yaml` writes them, is accepted.
  const full = {
    name: 'app',
    namespace: 'default',
    generateName: 'app-',
    selfLink: '/x',
    uid: 'u',
    resourceVersion: '1',
    generation: 1,
    creationTimestamp: '2024-01-01T00:00:00Z',
    deletionTimestamp: null,
    deletionGracePeriodSeconds: 30,
    labels: { a: 'b' },
    annotations: { c: 'd' },
    ownerReferences: [],
    finalizers: ['x'],
    managedFields: [{ manager: 'kubectl' }],
    clusterName: '',
  };
  assert.deepEqual(about(problems([gateway(), { ...route(), metadata: full }]), 'HTTPRoute/default/app'), []);
});

test('kind List: a key other than apiVersion, kind, metadata, items is a fatal error with a "did you mean" (a misspelt items dropped every resource); a List with no items is warned about', () => {
  const item = `- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n`;
  for (const key of ['itmes', 'Items']) {
    const r = loadManifestsFromText(`apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ""}\n${key}:\n${item}`, 'l.yaml');
    assert.deepEqual(r.resources, []);
    assert.deepEqual(
      r.problems.map((p) => [p.severity, p.fatal, p.path, p.source, p.message]),
      [['error', true, key, 'l.yaml:4', `unknown field "${key}" in a List: did you mean "items"? a list takes only apiVersion, kind, metadata and items (kubectl's strict decoding refuses it; the resources under it would not be read)`]],
    );
  }
  const other = loadManifestsFromText(`apiVersion: v1\nkind: TrafficPolicyList\nspecs: {}\nitems:\n${item}`, 'l.yaml');
  assert.deepEqual(other.resources.map((x) => x.name), ['one']);
  assert.deepEqual(other.problems.map((p) => [p.severity, p.path, p.message.slice(0, 80)]), [['error', 'specs', 'unknown field "specs" in a TrafficPolicyList: a list takes only apiVersion, kind']]);
  for (const items of ['', 'items:\n', 'items: []\n']) {
    const r = loadManifestsFromText(`apiVersion: v1\nkind: List\n${items}`, 'e.yaml');
    assert.deepEqual(r.problems.map((p) => [p.severity, p.source, p.message]), [['warning', 'e.yaml:1', 'a List with no items: it holds no resources']], items);
  }
});

test('a file that holds no resources (empty, only comments, only ---) is warned about in a folder, and an error when named with --config', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jwtgate-empty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, '00-gw.yaml'), JSON.stringify(gateway()));
  writeFileSync(path.join(dir, '10-empty.yaml'), '');
  writeFileSync(path.join(dir, '20-comments.yaml'), '# apiVersion: gateway.kgateway.dev/v1alpha1\n# kind: TrafficPolicy\n---\n\n...\n');
  const inFolder = await loadManifests([dir]);
  assert.deepEqual(inFolder.resources.map((r) => r.kind), ['Gateway']);
  assert.deepEqual(
    inFolder.problems.map((p) => [p.severity, p.resource, p.message]),
    [
      ['warning', path.join(dir, '10-empty.yaml'), 'holds no resources (the file is empty or only comments)'],
      ['warning', path.join(dir, '20-comments.yaml'), 'holds no resources (the file is empty or only comments)'],
    ],
  );
  const named = await loadManifests([path.join(dir, '00-gw.yaml'), path.join(dir, '20-comments.yaml')]);
  assert.deepEqual(
    named.problems.map((p) => [p.severity, p.fatal, p.resource, p.message]),
    [['error', true, path.join(dir, '20-comments.yaml'), 'holds no resources (the file is empty or only comments): a file named with --config must hold manifests']],
  );
  // serve refuses to start over it; a folder with an empty file still serves.
  await assert.rejects(compileFiles([path.join(dir, '00-gw.yaml'), path.join(dir, '10-empty.yaml')], { generation: 1 }, { loadErrorsFatal: true }), /10-empty\.yaml: holds no resources/);
  const s = await compileFiles([dir], { generation: 1 }, { loadErrorsFatal: true });
  assert.equal(s.problems.filter((p) => /holds no resources/.test(p.message)).length, 2);
});

test('unrendered templates: an unquoted {{ … }} is an error naming it (no raw yaml warning on stderr), a quoted one in a naming field a warning', async () => {
  const helm = `apiVersion: ${KGW}\nkind: GatewayExtension\nmetadata:\n  name: ext\nspec:\n  jwt:\n    providers:\n    - name: p\n      issuer: {{ .Values.jwt.issuer }}\n`;
  const hugo = `apiVersion: {{< reuse "docs/snippets/trafficpolicy-apiversion.md" >}}\nkind: TrafficPolicy\nmetadata:\n  name: pol\n`;
  const directive = `{{- if .Values.enabled }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n{{- end }}\n`;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const r = loadManifestsFromText(`${helm}---\n${hugo}---\n${directive}`, 't.yaml');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, [], 'the yaml package printed a warning');
    assert.deepEqual(r.resources, []);
    const ps = r.problems.filter((p) => /template/.test(p.message));
    assert.deepEqual(
      ps.map((p) => [p.severity, p.fatal, p.path, p.source, p.message]),
      [
        ['error', true, 'spec.jwt.providers[0].issuer', 't.yaml:9', 'unrendered template `{{ .Values.jwt.issuer }}`: render it first, e.g. `helm template`, and pass the output'],
        ['error', true, 'apiVersion', 't.yaml:11', 'unrendered template `{{< reuse "docs/snippets/trafficpolicy-apiversion.md" >}}` (a Hugo shortcode: the source of a docs page): copy the manifest from the rendered page, or write the value it stands for'],
        ['error', true, '', 't.yaml:16', 'unrendered template `{{- if .Values.enabled }}`: render it first, e.g. `helm template`, and pass the output'],
      ],
    );
    // Another key that is a collection is said as such, not stringified.
    const key = loadManifestsFromText(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  ? [a, b]\n  : c\n`, 'k.yaml');
    assert.deepEqual(key.problems.map((p) => [p.path, p.message]), [['data', 'a key that is a list (`[a, b]`): manifest keys are strings']]);
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
  }
  const quoted = problems([
    gateway(),
    route(),
    { ...ext, spec: { jwt: { providers: [{ name: 'p', issuer: '{{ .Values.jwt.issuer }}', jwks: { local: { inline: JWKS } } }] } } },
    policy({ spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: '{{ .Values.gateway.name }}' }], jwtAuth: { extensionRef: { name: 'ext' } } } }),
  ]);
  assert.deepEqual(
    quoted.filter((p) => /template/.test(p.message)).map((p) => [p.severity, p.resource, p.path, p.message]),
    [
      ['warning', 'GatewayExtension/default/ext', 'spec.jwt.providers[0].issuer', 'looks like an unrendered template `{{ .Values.jwt.issuer }}`: render it first, e.g. `helm template` (as written, it names nothing that exists)'],
      ['warning', 'TrafficPolicy/default/pol', 'spec.targetRefs[0].name', 'looks like an unrendered template `{{ .Values.gateway.name }}`: render it first, e.g. `helm template` (as written, it names nothing that exists)'],
    ],
  );
  // Another project's resource whose templates render at run time (Argo CD's ApplicationSet): not jwtgate's to judge.
  const appSet = problems([gateway(), { apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet', metadata: md('apps'), spec: { template: { metadata: { name: '{{.cluster}}-guestbook' } } } }]);
  assert.deepEqual(appSet.filter((p) => /template/.test(p.message)), []);
});

test('a kustomization.yaml is a fatal error saying to render it with kubectl kustomize, with or without metadata.name', () => {
  for (const meta of ['', 'metadata:\n  name: jwt\n']) {
    const r = loadManifestsFromText(`apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${meta}namespace: kgateway-system\nresources:\n- 10-jwt.yaml\n`, 'cfg/kustomization.yaml');
    assert.deepEqual(r.resources, []);
    assert.deepEqual(
      r.problems.map((p) => [p.severity, p.fatal, p.source, p.message]),
      [['error', true, 'cfg/kustomization.yaml:1', "a kustomize file (Kustomization), not a manifest: render it with `kubectl kustomize cfg` and pass the output (kustomize's namespace, patches and resources are not applied to the manifests read here)"]],
    );
  }
  const component = loadManifestsFromText('apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: []\n', 'kustomization.yaml');
  assert.match(component.problems[0]?.message ?? '', /^a kustomize file \(Component\), not a manifest: render it with `kubectl kustomize \.`/);
});

test('a docs example copied with its shell heredoc (kubectl apply -f- <<EOF … EOF): an error that says to keep only the YAML between them, and the YAML is still read', () => {
  const extDoc = `apiVersion: ${KGW}\nkind: GatewayExtension\nmetadata:\n  name: ext\nspec:\n  jwt:\n    providers:\n    - name: p\n      issuer: iss\n      jwks:\n        local:\n          inline: |\n            ${JWKS}\n`;
  const polDoc = `apiVersion: ${KGW}\nkind: TrafficPolicy\nmetadata:\n  name: pol\nspec:\n  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: Gateway\n    name: gw\n  jwtAuth:\n    extensionRef:\n      name: ext\n`;
  const ids = (r: ReturnType<typeof loadManifestsFromText>): string[] => r.resources.map((x) => `${x.kind}/${x.name}`);
  const said = (r: ReturnType<typeof loadManifestsFromText>): unknown[] => r.problems.map((p) => [p.severity, p.fatal, p.source, p.message]);

  const full = loadManifestsFromText(`kubectl apply -f- <<EOF\n${extDoc}---\n${polDoc}\nEOF\n`, 'h.yaml');
  assert.deepEqual(ids(full), ['GatewayExtension/ext', 'TrafficPolicy/pol']);
  assert.deepEqual(said(full), [
    ['error', true, 'h.yaml:1', "`kubectl apply -f- <<EOF` (line 1) and `EOF` (line 29) are the shell heredoc kgateway's docs wrap each example in, copied with the manifest: not YAML. Keep only the YAML between them (remove both lines, with a `---` line between two examples)"],
  ]);

  // Two examples pasted one after the other, without `---`: two kubectl inputs, two resources.
  const two = loadManifestsFromText(`kubectl apply -f- <<EOF\n${extDoc}EOF\nkubectl apply -f- <<EOF\n${polDoc}EOF\n`, 'two.yaml');
  assert.deepEqual(ids(two), ['GatewayExtension/ext', 'TrafficPolicy/pol']);
  assert.deepEqual(said(two).map((p) => (p as string[])[2]), ['two.yaml:1', 'two.yaml:16']);

  // Only the closing line: the last document was lost to a YAML error before.
  const trailing = loadManifestsFromText(`${extDoc}---\n${polDoc}EOF\n`, 't.yaml');
  assert.deepEqual(ids(trailing), ['GatewayExtension/ext', 'TrafficPolicy/pol']);
  assert.deepEqual(said(trailing), [
    ['error', true, 't.yaml:27', "`EOF` (line 27) is the end of the shell heredoc (`kubectl apply -f- <<EOF` … `EOF`) kgateway's docs wrap each example in, copied with the manifest: not YAML. Keep only the YAML before it (remove this line)"],
  ]);

  // Another delimiter, quoted, through cat; and an opening line without its end.
  const cat = loadManifestsFromText(`cat <<'END' | kubectl apply -f -\n${polDoc}END\n`, 'c.yaml');
  assert.deepEqual(ids(cat), ['TrafficPolicy/pol']);
  assert.match(cat.problems[0]!.message, /^`cat <<'END' \| kubectl apply -f -` \(line 1\) and `END` \(line 14\) are the shell heredoc/);
  const open = loadManifestsFromText(`kubectl apply -f - << EOF\n${polDoc}`, 'o.yaml');
  assert.deepEqual(ids(open), ['TrafficPolicy/pol']);
  assert.deepEqual(said(open), [
    ['error', true, 'o.yaml:1', "`kubectl apply -f - << EOF` (line 1) opens the shell heredoc kgateway's docs wrap each example in, copied with the manifest: not YAML. Keep only the YAML after it, up to its closing `EOF` line (remove both)"],
  ]);

  // Not a heredoc of the manifest: a script in a ConfigMap (indented), a comment.
  const script = `# kubectl apply -f- <<EOF\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndata:\n  run.sh: |\n    kubectl apply -f- <<EOF\n    kind: X\n    EOF\n`;
  const ok = loadManifestsFromText(script, 's.yaml');
  assert.deepEqual(ok.problems, []);
  assert.equal((ok.resources[0]!.object['data'] as Record<string, string>)['run.sh'], 'kubectl apply -f- <<EOF\nkind: X\nEOF\n');
});

test('heredoc edges: two examples pasted with the first `EOF` missing are named and both read; a `cat <<EOF > file` heredoc is named as one that applies nothing, and its body is read', () => {
  const extDoc = `apiVersion: ${KGW}\nkind: GatewayExtension\nmetadata:\n  name: ext\nspec:\n  jwt:\n    providers:\n    - name: p\n      issuer: iss\n      jwks:\n        local:\n          inline: |\n            ${JWKS}\n`;
  const polDoc = `apiVersion: ${KGW}\nkind: TrafficPolicy\nmetadata:\n  name: pol\nspec:\n  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: Gateway\n    name: gw\n  jwtAuth:\n    extensionRef:\n      name: ext\n`;
  const ids = (r: ReturnType<typeof loadManifestsFromText>): string[] => r.resources.map((x) => `${x.kind}/${x.name}`);
  const said = (r: ReturnType<typeof loadManifestsFromText>): unknown[] => r.problems.map((p) => [p.severity, p.fatal, p.source, p.message]);
  const PAIRED = "are the shell heredoc kgateway's docs wrap each example in, copied with the manifest: not YAML. Keep only the YAML between them (remove both lines, with a `---` line between two examples)";

  // The first example's `EOF` missing: the second `kubectl … <<EOF` (line 16) ends the first
  // heredoc (the shell would have sent it to kubectl as YAML, an error there too) and opens its
  // own, which the last `EOF` closes. Both documents are read, and the fatal error says why.
  const reopened = loadManifestsFromText(`kubectl apply -f- <<EOF\n${extDoc}---\nkubectl apply -f- <<EOF\n${polDoc}EOF\n`, 'r.yaml');
  assert.deepEqual(ids(reopened), ['GatewayExtension/ext', 'TrafficPolicy/pol']);
  assert.deepEqual(said(reopened), [
    ['error', true, 'r.yaml:1', "`kubectl apply -f- <<EOF` (line 1) opens the shell heredoc kgateway's docs wrap each example in, copied with the manifest: not YAML, and `kubectl apply -f- <<EOF` (line 16) opens another before its closing `EOF`: two examples pasted with the end of the first missing. Keep only the YAML of each (remove the shell lines, with a `---` line between the two examples)"],
    ['error', true, 'r.yaml:16', `\`kubectl apply -f- <<EOF\` (line 16) and \`EOF\` (line 29) ${PAIRED}`],
  ]);

  // `cat <<EOF > pol.yaml` (and `cat > f <<EOF`) writes a file and applies nothing: named as
  // such, paired with its `EOF`, and its body still read so the rest is checked.
  const written = loadManifestsFromText(`${extDoc}---\ncat <<EOF > pol.yaml\n${polDoc}EOF\n`, 'w.yaml');
  assert.deepEqual(ids(written), ['GatewayExtension/ext', 'TrafficPolicy/pol']);
  assert.deepEqual(said(written), [
    ['error', true, 'w.yaml:15', '`cat <<EOF > pol.yaml` (line 15) and `EOF` (line 28) are a shell heredoc written to a file (it applies nothing), copied with the manifest: not YAML. Keep only the YAML between them (remove both lines, with a `---` line between two examples)'],
  ]);
  const redirectFirst = loadManifestsFromText(`$ cat > pol.yaml <<'END'\n${polDoc}`, 'x.yaml');
  assert.deepEqual(ids(redirectFirst), ['TrafficPolicy/pol']);
  assert.deepEqual(said(redirectFirst), [
    ['error', true, 'x.yaml:1', "`$ cat > pol.yaml <<'END'` (line 1) opens a shell heredoc written to a file (it applies nothing), copied with the manifest: not YAML. Keep only the YAML after it, up to its closing `END` line (remove both)"],
  ]);
  // Inside a `cat` heredoc nothing opens another one: a kubectl line there is body (a YAML error).
  const inCat = loadManifestsFromText(`cat <<EOF > a.yaml\n${polDoc}kubectl apply -f- <<EOF\nEOF\n`, 'k.yaml');
  assert.equal(inCat.problems[0]!.source, 'k.yaml:1');
  assert.match(inCat.problems[0]!.message, /^`cat <<EOF > a\.yaml` \(line 1\) and `EOF` \(line 15\) are a shell heredoc written to a file/);
  // A YAML key `cat` whose value holds `<<` is not a shell line.
  const key = loadManifestsFromText(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: y\ncat: a <<EOF\n`, 'y.yaml');
  assert.ok(key.problems.every((p) => !p.message.includes('heredoc')), JSON.stringify(key.problems));
});

test('a map or list that YAML aliases repeat is looked at once for quoted templates (a 200 KB document of aliases repeating a long list took seconds, walked once per reference)', async () => {
  const { loadManifestsFromText } = await import('../../src/config/load.js');
  const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: default }
spec:
  parentRefs: [&p { name: "{{ .Values.gateway }}" }, *p, *p, *p, *p]
`;
  const r = loadManifestsFromText(yaml, 'a.yaml');
  const found = r.problems.filter((p) => p.message.includes('{{ .Values.gateway }}'));
  assert.equal(found.length, 1, JSON.stringify(r.problems));
  assert.equal(found[0]!.path, 'spec.parentRefs[0].name');
});
