// jwks.remote compiled with its transport: backendRef to a Static Backend (first host) or a
// Service (NAME.NS.svc.DOMAIN), BackendConfigPolicy `spec.tls` found by targetRefs or
// targetSelectors (oldest policy wins), Secret `ca.crt`/`tls.crt`/`tls.key`, files, retries only
// with a retryPolicy; config_dump describes TLS without certificate or key material.
import test, { after } from 'node:test';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileText } from '../../src/config/build.js';
import { configDump } from '../../src/config/dump.js';
import type { RemoteKeySet, Snapshot } from '../../src/config/snapshot.js';
import { fixturesDir } from '../helpers/paths.js';
import { makeTestCa } from '../helpers/test-ca.js';

const KGW = 'gateway.kgateway.dev/v1alpha1';
// Any real certificate will do as a CA bundle for compiling.
const CA_PEM = readFileSync(path.join(fixturesDir, 'auth', 'ec-x509-cert.pem'), 'utf8');

function ext(remote: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: KGW,
    kind: 'GatewayExtension',
    metadata: { name: 'ext', namespace: 'apps' },
    spec: { jwt: { providers: [{ name: 'idp', issuer: 'https://idp.example.com', jwks: { remote } }] } },
  });
}
const backend = (name: string, labels: Record<string, string> = {}, created?: string) =>
  JSON.stringify({ apiVersion: KGW, kind: 'Backend', metadata: { name, namespace: 'apps', labels, ...(created ? { creationTimestamp: created } : {}) }, spec: { static: { hosts: [{ host: '10.0.0.7', port: 8443 }, { host: '10.0.0.8', port: 8443 }] } } });
const bcp = (name: string, spec: Record<string, unknown>, created?: string) =>
  JSON.stringify({ apiVersion: KGW, kind: 'BackendConfigPolicy', metadata: { name, namespace: 'apps', ...(created ? { creationTimestamp: created } : {}) }, spec });
const secret = (name: string, data: Record<string, string>, stringData?: Record<string, string>) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'apps' }, type: 'kubernetes.io/tls', data, ...(stringData ? { stringData } : {}) });
const b64 = (s: string) => Buffer.from(s).toString('base64');

function compile(...docs: string[]): Snapshot {
  return compileText(docs.join('\n---\n'), { generation: 1, clusterDomain: 'corp.local' }, 'remote.yaml');
}
function remoteOf(s: Snapshot): RemoteKeySet {
  const ks = s.keySets.get('GatewayExtension/apps/ext#idp');
  assert.ok(ks && ks.kind === 'remote', JSON.stringify(s.problems));
  return ks;
}
const errors = (s: Snapshot) => s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`);
const BE_REF = { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'idp' };
// A real certificate and its key (the openssl CLI, as the TLS tests), and a key of another pair.
const CA = makeTestCa();
after(() => CA.cleanup());
const PAIR = { certPem: CA.certPem, keyPem: CA.keyPem };
const EC_KEY = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
const OTHER_KEY = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

test('Backend target (its hosts, in turn) and Service target (cluster DNS name); no retries without retryPolicy, 1 by default inside one', () => {
  const be = remoteOf(compile(ext({ url: 'http://idp.example.com/certs', backendRef: BE_REF }), backend('idp')));
  assert.deepEqual(be.target, { host: '10.0.0.7', port: 8443 });
  assert.deepEqual(be.alternates, [{ host: '10.0.0.8', port: 8443 }], "the Backend's other host");
  // A host that never has an address (check warns about it) is no endpoint.
  const odd = JSON.parse(backend('idp')) as { spec: { static: { hosts: { host: string; port: number }[] } } };
  odd.spec.static.hosts = [{ host: '127.1', port: 80 }, { host: '10.0.0.9', port: 8443 }, { host: 'u@10.0.0.1', port: 80 }];
  const skipped = remoteOf(compile(ext({ url: 'http://idp.example.com/certs', backendRef: BE_REF }), JSON.stringify(odd)));
  assert.deepEqual([skipped.target, skipped.alternates], [{ host: '10.0.0.9', port: 8443 }, undefined]);
  assert.equal(be.numRetries, 0);
  assert.equal(be.tls, undefined, 'http:// and no policy: plaintext');
  const svc = remoteOf(compile(ext({ url: 'http://idp.example.com/certs', backendRef: { name: 'keycloak', port: 8080 }, retryPolicy: {} })));
  assert.deepEqual(svc.target, { host: 'keycloak.apps.svc.corp.local', port: 8080 });
  assert.equal(svc.alternates, undefined);
  assert.equal(svc.numRetries, 1);
});

test('BackendConfigPolicy with a Secret CA (and client certificate) applies to the targeted Backend', () => {
  const s = compile(
    ext({ url: 'https://idp.example.com/certs', backendRef: BE_REF }),
    backend('idp'),
    bcp('idp-tls', { targetRefs: [BE_REF], tls: { secretRef: { name: 'idp-ca' }, sni: 'login.example.com', parameters: { minVersion: '1.2' } } }),
    secret('idp-ca', { 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem), 'tls.key': b64(PAIR.keyPem) }),
  );
  assert.deepEqual(errors(s), []);
  const ks = remoteOf(s);
  assert.deepEqual(ks.tls, {
    insecureSkipVerify: false,
    source: 'BackendConfigPolicy/apps/idp-tls',
    sni: 'login.example.com',
    minVersion: 'TLSv1.2',
    caPem: CA_PEM,
    certPem: PAIR.certPem,
    keyPem: PAIR.keyPem,
  });
  assert.ok(!s.problems.some((p) => p.message.startsWith('https:// URL and no BackendConfigPolicy')), 'a policy applies: no difference to report');
  // config_dump says what TLS does, never the PEM or the key.
  const dump = JSON.stringify(configDump(s));
  assert.ok(!dump.includes('BEGIN CERTIFICATE') && !dump.includes('PRIVATE KEY'), dump);
  assert.match(dump, /"trust":"Secret ca.crt"/);
  assert.match(dump, /"clientCertificate":true/);
  assert.match(dump, /"sni":"login.example.com"/);
  // simpleTLS: server-only TLS even though the Secret has a client certificate.
  const simple = remoteOf(
    compile(
      ext({ url: 'https://idp.example.com/certs', backendRef: BE_REF }),
      backend('idp'),
      bcp('idp-tls', { targetRefs: [BE_REF], tls: { secretRef: { name: 'idp-ca' }, simpleTLS: true } }),
      secret('idp-ca', { 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem), 'tls.key': b64(PAIR.keyPem) }),
    ),
  );
  assert.equal(simple.tls?.certPem, undefined);
});

test('a Secret whose client certificate is not a usable pair is refused with the field, as kgateway (ValidateTlsSecretData): fetches fail closed instead of an OpenSSL error at each fetch', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem), 'tls.key': b64(OTHER_KEY) }, /tls\.key does not belong to tls\.crt/],
    // A key of another type than the certificate's (OpenSSL's context check misses it; Go's X509KeyPair does not).
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem), 'tls.key': b64(EC_KEY) }, /tls\.key does not belong to tls\.crt/],
    // A CA in the TRUSTED CERTIFICATE form kgateway refuses.
    [{ 'ca.crt': b64(CA_PEM.replace(/BEGIN CERTIFICATE/, 'BEGIN TRUSTED CERTIFICATE').replace(/END CERTIFICATE/, 'END TRUSTED CERTIFICATE')) }, /ca\.crt is not a PEM certificate/],
    // The PEM armour with a body that is no certificate: refused too, not handed to OpenSSL.
    [{ 'ca.crt': b64('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n') }, /ca\.crt is not a PEM certificate/],
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem), 'tls.key': b64('garbage') }, /tls\.key is not a readable PEM private key/],
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64('garbage'), 'tls.key': b64(PAIR.keyPem) }, /tls\.crt is not a PEM certificate/],
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64(PAIR.certPem) }, /tls\.crt without tls\.key/],
    [{ 'ca.crt': b64(CA_PEM), 'tls.key': b64(PAIR.keyPem) }, /tls\.key without tls\.crt: a client certificate needs both/],
    // A chain whose later block is corrupt: OpenSSL would refuse it at every connect.
    [{ 'ca.crt': b64(CA_PEM), 'tls.crt': b64(`${PAIR.certPem}-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n`), 'tls.key': b64(PAIR.keyPem) }, /tls\.crt is not a readable certificate chain/],
  ];
  for (const [data, message] of cases) {
    const s = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'pair' } } }), secret('pair', data));
    const e = errors(s);
    assert.equal(e.length, 1, JSON.stringify(e));
    assert.match(e[0]!, /^BackendConfigPolicy\/apps\/p spec\.tls\.secretRef\.name: Secret apps\/pair /);
    assert.match(e[0]!, message);
    assert.ok(!e[0]!.includes('PRIVATE KEY') && !e[0]!.includes('garbage'), 'no key material in the message');
    assert.match(remoteOf(s).tls?.error ?? '', message);
  }
  // simpleTLS: the client certificate is not used, so not checked.
  const simple = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'pair' }, simpleTLS: true } }), secret('pair', { 'ca.crt': b64(CA_PEM), 'tls.key': b64('garbage') }));
  assert.deepEqual(errors(simple), []);
});

test('a Secret with only tls.crt (no tls.key, no ca.crt): the missing CA-or-pair error comes first and is the one fetches carry, then the half pair; with simpleTLS only the first (found by mutation testing)', () => {
  const FAILS = ': remote JWKS fetches through this policy fail (401 Jwks remote fetch is failed)';
  const NEITHER = 'Secret apps/pair has neither ca.crt nor tls.crt and tls.key';
  const only = (tls: Record<string, unknown>) =>
    compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'pair' }, ...tls } }), secret('pair', { 'tls.crt': b64(PAIR.certPem) }));
  const s = only({});
  assert.deepEqual(errors(s), [
    `BackendConfigPolicy/apps/p spec.tls.secretRef.name: ${NEITHER}${FAILS}`,
    `BackendConfigPolicy/apps/p spec.tls.secretRef.name: Secret apps/pair has tls.crt without tls.key: a client certificate needs both${FAILS}`,
  ]);
  const tls = remoteOf(s).tls;
  assert.equal(tls?.error, `BackendConfigPolicy/apps/p: ${NEITHER}`);
  assert.deepEqual([tls?.caPem, tls?.certPem, tls?.keyPem], [undefined, undefined, undefined]);
  const dumped = (configDump(s) as { extensions: { providers: { keySet: { tls: unknown } }[] }[] }).extensions[0]!.providers[0]!.keySet.tls;
  assert.deepEqual(dumped, { source: 'BackendConfigPolicy/apps/p', trust: 'system', clientCertificate: false, error: `BackendConfigPolicy/apps/p: ${NEITHER}` });
  // simpleTLS: the client certificate is not used, so only the missing CA is said.
  const simple = only({ simpleTLS: true });
  assert.deepEqual(errors(simple), [`BackendConfigPolicy/apps/p spec.tls.secretRef.name: ${NEITHER}${FAILS}`]);
  assert.equal(remoteOf(simple).tls?.error, `BackendConfigPolicy/apps/p: ${NEITHER}`);
});

test('files, insecureSkipVerify, targetSelectors, Service targets, and the oldest policy wins', () => {
  const files = remoteOf(compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { files: { rootCA: '/etc/idp/ca.pem' } } })));
  assert.equal(files.tls?.caFile, '/etc/idp/ca.pem');
  const insecure = remoteOf(compile(ext({ url: 'http://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { insecureSkipVerify: true } })));
  assert.equal(insecure.tls?.insecureSkipVerify, true, 'an http:// URL with a tls policy still gets TLS (as Envoy)');
  const selected = remoteOf(
    compile(
      ext({ url: 'https://idp/certs', backendRef: BE_REF }),
      backend('idp', { tier: 'idp' }),
      bcp('p', { targetSelectors: [{ group: 'gateway.kgateway.dev', kind: 'Backend', matchLabels: { tier: 'idp' } }], tls: { wellKnownCACertificates: 'System', sni: 'idp' } }),
    ),
  );
  assert.equal(selected.tls?.source, 'BackendConfigPolicy/apps/p');
  const svc = remoteOf(compile(ext({ url: 'https://idp/certs', backendRef: { name: 'keycloak', port: 443 } }), bcp('p', { targetRefs: [{ group: '', kind: 'Service', name: 'keycloak' }], tls: { insecureSkipVerify: true } })));
  assert.equal(svc.tls?.insecureSkipVerify, true);
  const s = compile(
    ext({ url: 'https://idp/certs', backendRef: BE_REF }),
    backend('idp'),
    bcp('newer', { targetRefs: [BE_REF], tls: { insecureSkipVerify: true } }, '2026-02-01T00:00:00Z'),
    bcp('older', { targetRefs: [BE_REF], tls: { sni: 'idp.example.com' } }, '2026-01-01T00:00:00Z'),
  );
  assert.equal(remoteOf(s).tls?.source, 'BackendConfigPolicy/apps/older');
  assert.ok(s.problems.some((p) => p.resource === 'BackendConfigPolicy/apps/newer' && p.severity === 'warning' && /already sets tls/.test(p.message)));
});

test('a BackendConfigPolicy in the global policy namespace selects Backends of every namespace (kgateway KGW_GLOBAL_POLICY_NAMESPACE); elsewhere its selectors stay in its namespace', () => {
  const globalBcp = JSON.stringify({ apiVersion: KGW, kind: 'BackendConfigPolicy', metadata: { name: 'idp-tls', namespace: 'infra' }, spec: { targetSelectors: [{ group: 'gateway.kgateway.dev', kind: 'Backend', matchLabels: { tier: 'idp' } }], tls: { insecureSkipVerify: true } } });
  const text = [ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp', { tier: 'idp' }), globalBcp].join('\n---\n');
  const on = compileText(text, { generation: 1, globalPolicyNamespace: 'infra' }, 'remote.yaml');
  const ks = on.keySets.get('GatewayExtension/apps/ext#idp');
  assert.ok(ks && ks.kind === 'remote');
  assert.equal(ks.tls?.source, 'BackendConfigPolicy/infra/idp-tls');
  const off = compileText(text, { generation: 1 }, 'remote.yaml');
  const plain = off.keySets.get('GatewayExtension/apps/ext#idp');
  assert.ok(plain && plain.kind === 'remote');
  assert.equal(plain.tls?.source, undefined);
  // Said, as for TrafficPolicy selectors: the policy's tls applies to no fetch.
  const w = off.problems.find((p) => p.resource === 'BackendConfigPolicy/infra/idp-tls' && p.path === 'spec.targetSelectors[0]');
  assert.match(w?.message ?? '', /matchLabels select no Backend in namespace infra, only Backend apps\/idp in other namespaces: .*run jwtgate with --global-policy-namespace infra$/);
  assert.equal(on.problems.some((p) => p.resource === 'BackendConfigPolicy/infra/idp-tls' && p.path === 'spec.targetSelectors[0]'), false);
});

test('a policy whose Secret is missing fails closed: reported on the policy, the extension stays valid, fetches carry the error', () => {
  const s = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'nope' } } }));
  assert.deepEqual(errors(s), ['BackendConfigPolicy/apps/p spec.tls.secretRef.name: Secret apps/nope not found (it must be in the policy\'s namespace): remote JWKS fetches through this policy fail (401 Jwks remote fetch is failed)']);
  assert.ok(s.extensions.get('apps/ext'), 'the extension is usable: requests get 401 Jwks remote fetch is failed');
  assert.match(remoteOf(s).tls?.error ?? '', /Secret apps\/nope not found/);
  const status = s.statuses.find((st) => st.resource === 'BackendConfigPolicy/apps/p')!;
  assert.equal(status.conditions[0]!.status, 'False');
});

test('a policy whose target kgateway\'s CRD refuses (Backend in the core group) is invalid: its tls is not taken for a Backend of that name', () => {
  const s = compile(ext({ url: 'http://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [{ group: '', kind: 'Backend', name: 'idp' }], tls: { insecureSkipVerify: true } }));
  assert.deepEqual(errors(s), ['BackendConfigPolicy/apps/p spec.targetRefs[0]: TargetRefs must reference either a Kubernetes Service, a Backend, or an Istio Hostname (got group "", kind Backend)']);
  assert.equal(remoteOf(s).tls, undefined);
  const status = s.statuses.find((st) => st.resource === 'BackendConfigPolicy/apps/p')!;
  assert.deepEqual([status.conditions[0]!.status, status.conditions[0]!.reason], ['False', 'Invalid']);
});

test('Secret stringData overrides data; errors never show the value', () => {
  const s = compile(
    ext({ url: 'https://idp/certs', backendRef: BE_REF }),
    backend('idp'),
    bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'ca' } } }),
    secret('ca', { 'ca.crt': b64('old') }, { 'ca.crt': CA_PEM }),
  );
  assert.deepEqual(errors(s), []);
  assert.equal(remoteOf(s).tls?.caPem, CA_PEM);
  const bad = compile(secret('leaky', { 'tls.key': 'sup3r-s3cret!' }));
  const p = bad.problems.find((x) => x.resource === 'Secret/apps/leaky')!;
  assert.ok(p && !p.message.includes('sup3r'), p?.message);
});

test('tls parameters map to Node TLS versions (1.3 stays 1.3); simpleTLS keeps a client certificate in files out; an invalid policy\'s insecureSkipVerify is not applied (found by mutation testing)', () => {
  const versions = remoteOf(
    compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { sni: 'idp', parameters: { minVersion: '1.2', maxVersion: '1.3' } } })),
  );
  assert.deepEqual([versions.tls?.minVersion, versions.tls?.maxVersion], ['TLSv1.2', 'TLSv1.3']);
  const files = { rootCA: '/etc/idp/ca.pem', tlsCertificate: '/etc/idp/tls.crt', tlsKey: '/etc/idp/tls.key' };
  const mtls = remoteOf(compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { files } })));
  assert.deepEqual([mtls.tls?.caFile, mtls.tls?.certFile, mtls.tls?.keyFile], ['/etc/idp/ca.pem', '/etc/idp/tls.crt', '/etc/idp/tls.key']);
  const simple = remoteOf(compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { files, simpleTLS: true } })));
  assert.deepEqual([simple.tls?.caFile, simple.tls?.certFile, simple.tls?.keyFile], ['/etc/idp/ca.pem', undefined, undefined]);
  const invalid = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { insecureSkipVerify: true, insecureSkipVerfy: true } }));
  assert.ok(errors(invalid).some((e) => e.startsWith('BackendConfigPolicy/apps/p spec.tls.insecureSkipVerfy: unknown field')), errors(invalid).join('\n'));
  assert.notEqual(remoteOf(invalid).tls?.insecureSkipVerify, true, 'certificates are still checked');
});

test('config_dump: a user name and password written into the remote JWKS Backend host are never shown in the key set target (a host that is no address is still the target when it is the only one)', () => {
  const be = JSON.stringify({
    apiVersion: KGW,
    kind: 'Backend',
    metadata: { name: 'idp', namespace: 'apps' },
    spec: { static: { hosts: [{ host: 'svc-user:Pa55w0rd@idp.example.com', port: 8443 }, { host: 'svc-user:Pa55w0rd@idp2.example.com', port: 8443 }] } },
  });
  const s = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), be);
  const ks = configDump(s) as { extensions: { providers: { keySet: { target?: string } }[] }[] };
  const keySet = ks.extensions[0]!.providers[0]!.keySet;
  assert.equal(keySet.target, 'redacted@idp.example.com:8443');
  assert.doesNotMatch(JSON.stringify(ks), /Pa55w0rd|svc-user/);
});

test('config_dump says which trust a remote JWKS fetch uses: none (insecureSkipVerify), a file, the system store; the SANs it checks; a client certificate from files (branches no test took)', () => {
  const dumpTls = (tls: Record<string, unknown>): unknown => {
    const s = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls }));
    assert.deepEqual(errors(s), []);
    return (configDump(s) as { extensions: { providers: { keySet: { tls: unknown } }[] }[] }).extensions[0]!.providers[0]!.keySet.tls;
  };
  const source = 'BackendConfigPolicy/apps/p';
  assert.deepEqual(dumpTls({ insecureSkipVerify: true }), { source, trust: 'none (insecureSkipVerify)', clientCertificate: false });
  assert.deepEqual(dumpTls({ files: { rootCA: '/etc/idp/ca.pem' }, verifySubjectAltNames: ['idp.example.com', 'spiffe://idp'] }), {
    source,
    trust: 'file /etc/idp/ca.pem',
    verifySubjectAltNames: ['idp.example.com', 'spiffe://idp'],
    clientCertificate: false,
  });
  assert.deepEqual(dumpTls({ files: { rootCA: '/etc/idp/ca.pem', tlsCertificate: '/etc/idp/tls.crt', tlsKey: '/etc/idp/tls.key' } }), { source, trust: 'file /etc/idp/ca.pem', clientCertificate: true });
  assert.deepEqual(dumpTls({ wellKnownCACertificates: 'System', sni: 'idp.example.com' }), { source, trust: 'system', sni: 'idp.example.com', clientCertificate: false });
});

test('a BackendConfigPolicy whose Secret the API server refuses (data not a map of strings) fails closed: the policy says the Secret is invalid, fetches carry that error (branch no test took)', () => {
  for (const data of ['x', { 'ca.crt': 5 }] as unknown[]) {
    const s = compile(ext({ url: 'https://idp/certs', backendRef: BE_REF }), backend('idp'), bcp('p', { targetRefs: [BE_REF], tls: { secretRef: { name: 'pair' } } }), JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pair', namespace: 'apps' }, data }));
    assert.deepEqual(
      errors(s).filter((e) => e.startsWith('BackendConfigPolicy/')),
      ['BackendConfigPolicy/apps/p spec.tls.secretRef.name: Secret apps/pair is invalid: remote JWKS fetches through this policy fail (401 Jwks remote fetch is failed)'],
    );
    assert.equal(remoteOf(s).tls?.error, 'BackendConfigPolicy/apps/p: Secret apps/pair is invalid');
  }
});

test('a JWKS backend kgateway reaches over TLS by a policy jwtgate does not apply to fetches (a BackendTLSPolicy; a BackendConfigPolicy selecting Services by label) makes an http:// url an error, not a fetch in plain text; an https:// url is fetched over TLS', () => {
  const SVC_REF = { name: 'idp', port: 8443 };
  const btp = JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'BackendTLSPolicy',
    metadata: { name: 'idp-tls', namespace: 'apps' },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'idp' }], validation: { hostname: 'idp.example.com', wellKnownCACertificates: 'System' } },
  });
  const plain = compile(ext({ url: 'http://idp.example.com/certs', backendRef: SVC_REF }), btp);
  assert.ok(
    errors(plain).some((e) => e.startsWith('GatewayExtension/apps/ext spec.jwt.providers[0].jwks.remote.backendRef: jwt: remote jwks: the backend is to be reached over TLS') && e.includes('plain text')),
    errors(plain).join('\n'),
  );
  assert.equal(plain.keySets.get('GatewayExtension/apps/ext#idp'), undefined);
  const byLabel = compile(ext({ url: 'http://idp.example.com/certs', backendRef: SVC_REF }), bcp('svc-tls', { targetSelectors: [{ group: '', kind: 'Service', matchLabels: { app: 'idp' } }], tls: { insecureSkipVerify: true } }));
  assert.ok(errors(byLabel).some((e) => e.includes('the backend is to be reached over TLS')), errors(byLabel).join('\n'));
  const https = compile(ext({ url: 'https://idp.example.com/certs', backendRef: SVC_REF }), btp);
  assert.ok(!errors(https).some((e) => e.includes('reached over TLS')), errors(https).join('\n'));
  assert.deepEqual(remoteOf(https).tls, { insecureSkipVerify: false });
  // Without such a policy, an http:// url is fetched as written (as before).
  assert.equal(remoteOf(compile(ext({ url: 'http://idp.example.com/certs', backendRef: SVC_REF }))).tls, undefined);
});
