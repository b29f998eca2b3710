// Invalid configuration table: every validation rule has a case with the exact resource, field
// path and message it must produce (plus the file fixtures under test/fixtures/config/invalid,
// whose expectations are written in their `# expect:` comments).

import test from 'node:test';
import assert from 'node:assert/strict';
import { keyPair } from '../fixtures/auth/keys.js';
import { GWAPI, KGW, gateway, md, route, type Doc } from '../fixtures/config/manifests.js';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { compileText } from '../../src/config/build.js';
import type { ConfigProblem } from '../../src/errors.js';
import { fixturesDir } from '../helpers/paths.js';
import { selectRoute } from '../../src/routing/match.js';

const JWKS = JSON.stringify({
  keys: [{ ...keyPair('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }],
});

const ext = (spec: Doc, name = 'ext', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'GatewayExtension', metadata: md(name, ns), spec });
const provider = (o: Doc = {}): Doc => ({ name: 'p', issuer: 'iss', jwks: { local: { inline: JWKS } }, ...o });
const jwtExt = (p: Doc = {}, jwt: Doc = {}, name = 'ext', ns = 'default'): Doc => ext({ jwt: { providers: [provider(p)], ...jwt } }, name, ns);
const remote = (r: Doc = {}): Doc => ({ remote: { url: 'https://idp.example.com/jwks', backendRef: { name: 'idp', port: 443 }, ...r } });
const policy = (spec: Doc, name = 'pol', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'TrafficPolicy', metadata: md(name, ns), spec });
const gwPolicy = (spec: Doc = {}, name = 'pol'): Doc =>
  policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwtAuth: { extensionRef: { name: 'ext' } }, ...spec }, name);
const backend = (spec: Doc, name = 'be', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'Backend', metadata: md(name, ns), spec });
const configMap = (data: Doc | undefined, name = 'jwks', ns = 'default'): Doc => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: md(name, ns), ...(data ? { data } : {}) });
const bcp = (tls: Doc, name = 'idp-tls', ns = 'default'): Doc => ({
  apiVersion: KGW,
  kind: 'BackendConfigPolicy',
  metadata: md(name, ns),
  spec: { targetRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'idp' }], tls },
});
const secret = (data: Doc, name = 'ca', ns = 'default'): Doc => ({ apiVersion: 'v1', kind: 'Secret', metadata: md(name, ns), data });
const rule = (r: Doc): Doc => route({ rules: [{ name: 'main', backendRefs: [{ name: 'app', port: 80 }], ...r }] });
const directResp = (spec: Doc, name = 'dr', ns = 'default'): Doc => ({ apiVersion: KGW, kind: 'DirectResponse', metadata: md(name, ns), spec });
const drFilter: Doc = { type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'DirectResponse', name: 'dr' } };
const listenerSet = (l: Doc = {}, name = 'ls', ns = 'default', apiVersion = 'gateway.networking.k8s.io/v1', kind = 'ListenerSet'): Doc => ({
  apiVersion,
  kind,
  metadata: md(name, ns),
  spec: { parentRef: { name: 'gw', namespace: 'default' }, listeners: [{ name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com', ...l }] },
});
const listenerPolicy = (spec: Doc, name = 'lp', ns = 'default'): Doc => ({
  apiVersion: KGW,
  kind: 'ListenerPolicy',
  metadata: md(name, ns),
  spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], ...spec },
});
const strSecret = (stringData: Doc, name: string, ns = 'default', labels?: Record<string, string>): Doc => ({ apiVersion: 'v1', kind: 'Secret', metadata: md(name, ns, labels ? { labels } : {}), stringData });
const routePol = (spec: Doc, name = 'pol'): Doc => policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app' }], ...spec }, name);
const authPolicy = (spec: Doc, name = 'pol', ns = 'default'): Doc => policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], ...spec }, name, ns);
// `htpasswd -nbs alice password` and `htpasswd -nbs bob secret`.
const ALICE = 'alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=';
const BOB = 'bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=';
const listener = (l: Doc): Doc => gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, ...l }] });
const mirror = (m: Doc = {}): Doc => ({ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, ...m } });

interface Case {
  readonly name: string;
  readonly docs: readonly Doc[] | string;
  readonly resource: string;
  readonly path: string;
  readonly message: string;
  readonly severity?: 'error' | 'warning';
}

const E = 'GatewayExtension/default/ext';
const P = 'TrafficPolicy/default/pol';
const G = 'Gateway/default/gw';
const R = 'HTTPRoute/default/app';
const DR = 'DirectResponse/default/dr';
const LS = 'ListenerSet/default/ls';
const B = 'Backend/default/be';
const BCP = 'BackendConfigPolicy/default/idp-tls';
const pp = 'spec.jwt.providers[0]';
const many = (n: number, f: (i: number) => unknown): unknown[] => Array.from({ length: n }, (_, i) => f(i));

const cases: Case[] = [
  // ----- GatewayExtension: spec union
  { name: 'extension with no union member', docs: [ext({})], resource: E, path: 'spec', message: 'exactly one of extAuth, extProc, rateLimit, jwt, oauth2 must be set (none is set)' },
  { name: 'extension with two union members', docs: [ext({ extAuth: {}, jwt: { providers: [provider()] } })], resource: E, path: 'spec', message: 'extAuth and jwt are set' },
  { name: 'type JWT without jwt', docs: [ext({ type: 'JWT', extAuth: { grpcService: {} } })], resource: E, path: 'spec', message: 'JWT must be set when type is JWT' },
  { name: 'unknown extension type', docs: [ext({ type: 'Jwt', jwt: { providers: [provider()] } })], resource: E, path: 'spec.type', message: 'Unsupported value: "Jwt"' },
  // ----- spec.jwt
  { name: 'validationMode unknown', docs: [jwtExt({}, { validationMode: 'AllowAll' })], resource: E, path: 'spec.jwt.validationMode', message: 'Unsupported value: "AllowAll": supported values: "Strict", "AllowMissing", "AllowMissingOrFailed"' },
  { name: 'validationMode typo', docs: [jwtExt({}, { validationMode: 'strict' })], resource: E, path: 'spec.jwt.validationMode', message: 'supported values: "Strict", "AllowMissing"' },
  { name: 'more than 32 providers', docs: [ext({ jwt: { providers: many(33, (i) => provider({ name: `p${i}` })) } })], resource: E, path: 'spec.jwt.providers', message: 'must have at most 32 items' },
  { name: 'duplicate provider names', docs: [ext({ jwt: { providers: [provider(), provider()] } })], resource: E, path: `spec.jwt.providers[1].name`, message: 'Duplicate value: "p"' },
  { name: 'no providers', docs: [ext({ jwt: {} })], resource: E, path: 'spec.jwt.providers', message: 'at least one provider' },
  { name: 'provider name empty', docs: [jwtExt({ name: '' })], resource: E, path: `${pp}.name`, message: 'must not be empty' },
  { name: 'provider name too long', docs: [jwtExt({ name: 'n'.repeat(254) })], resource: E, path: `${pp}.name`, message: 'may not be more than 253 characters' },
  { name: 'provider name missing', docs: [ext({ jwt: { providers: [{ issuer: 'x', jwks: { local: { inline: JWKS } } }] } })], resource: E, path: `${pp}.name`, message: 'Required value' },
  { name: 'issuer too long', docs: [jwtExt({ issuer: `https://${'a'.repeat(2048)}` })], resource: E, path: `${pp}.issuer`, message: 'may not be more than 2048 characters' },
  { name: 'empty audiences', docs: [jwtExt({ audiences: [] })], resource: E, path: `${pp}.audiences`, message: 'must have at least 1 item' },
  { name: 'too many audiences', docs: [jwtExt({ audiences: many(33, (i) => `a${i}`) })], resource: E, path: `${pp}.audiences`, message: 'must have at most 32 items' },
  { name: 'audiences not a list', docs: [jwtExt({ audiences: 'my-api' })], resource: E, path: `${pp}.audiences`, message: 'must be a list' },
  { name: 'empty claimsToHeaders', docs: [jwtExt({ claimsToHeaders: [] })], resource: E, path: `${pp}.claimsToHeaders`, message: 'must have at least 1 item' },
  { name: 'too many claimsToHeaders', docs: [jwtExt({ claimsToHeaders: many(33, (i) => ({ name: `c${i}`, header: `x-c${i}` })) })], resource: E, path: `${pp}.claimsToHeaders`, message: 'must have at most 32 items' },
  { name: 'claimsToHeaders header not a header name', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x team' }] })], resource: E, path: `${pp}.claimsToHeaders[0].header`, message: 'valid HTTP header name' },
  { name: 'claimsToHeaders claim name too long', docs: [jwtExt({ claimsToHeaders: [{ name: 'c'.repeat(2049), header: 'x-c' }] })], resource: E, path: `${pp}.claimsToHeaders[0].name`, message: 'may not be more than 2048 characters' },
  { name: 'claimsToHeaders append is an unknown field: an error (kgateway\'s CRD has none), saying what jwtgate does with the header', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x-team', append: true }] })], resource: E, path: `${pp}.claimsToHeaders[0].append`, message: 'unknown field "append": append is not a field of claimsToHeaders (kgateway has none; kubectl\'s strict field validation refuses it): the incoming header of that name is always removed first, then the claim is added' },
  { name: 'claimsToHeaders overwrite (a newer kgateway field) is refused with what it would do', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x-team', overwrite: true }] })], resource: E, path: `${pp}.claimsToHeaders[0].overwrite`, message: "overwrite: true is a field of kgateway versions newer than the one jwtgate follows, and jwtgate does not implement it: there kgateway removes header x-team from the requests of every route the extension's policies attach to, also where jwtAuth.disable turns the JWT check off (a jwt_claim_header_strip filter), where jwtgate removes it only on the routes this extension checks and would pass a client's header x-team on the others. The GatewayExtension is refused meanwhile, so the routes of the TrafficPolicies that use it answer 500: remove overwrite (and do not trust header x-team on routes without this extension's check)" },
  { name: 'claimsToHeaders overwrite: true: its policy is invalid (routes answer 500)', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x-team', overwrite: true }] }), gateway(), gwPolicy()], resource: P, path: 'spec.jwtAuth.extensionRef', message: 'GatewayExtension default/ext is invalid: spec.jwt.providers[0].claimsToHeaders[0].overwrite: overwrite: true is a field of kgateway versions newer' },
  { name: 'claimsToHeaders overwrite that is not a boolean', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x-team', overwrite: 'yes' }] })], resource: E, path: `${pp}.claimsToHeaders[0].overwrite`, message: 'Invalid value: overwrite must be a boolean' },
  { name: 'tokenSource with header and queryParameter', docs: [jwtExt({ tokenSource: { header: { header: 'x-jwt' }, queryParameter: 'token' } })], resource: E, path: `${pp}.tokenSource`, message: 'exactly one of header, queryParameter must be set (header and queryParameter are set)' },
  { name: 'tokenSource empty', docs: [jwtExt({ tokenSource: {} })], resource: E, path: `${pp}.tokenSource`, message: 'exactly one of header, queryParameter must be set (none is set)' },
  { name: 'tokenSource.header.header missing', docs: [jwtExt({ tokenSource: { header: { prefix: 'Bearer ' } } })], resource: E, path: `${pp}.tokenSource.header.header`, message: 'Required value' },
  { name: 'tokenSource.header.prefix empty', docs: [jwtExt({ tokenSource: { header: { header: 'x-jwt', prefix: '' } } })], resource: E, path: `${pp}.tokenSource.header.prefix`, message: 'must not be empty' },
  { name: 'jwks missing', docs: [jwtExt({ jwks: undefined })], resource: E, path: `${pp}.jwks`, message: 'Required value' },
  { name: 'jwks local and remote', docs: [jwtExt({ jwks: { local: { inline: JWKS }, ...remote() } })], resource: E, path: `${pp}.jwks`, message: 'exactly one of local, remote must be set (local and remote are set)' },
  { name: 'jwks.local inline and configMapRef', docs: [jwtExt({ jwks: { local: { inline: JWKS, configMapRef: { name: 'jwks' } } } }), configMap({ jwks: JWKS })], resource: E, path: `${pp}.jwks.local`, message: 'exactly one of inline, configMapRef must be set' },
  { name: 'inline too long', docs: [jwtExt({ jwks: { local: { inline: 'x'.repeat(16385) } } })], resource: E, path: `${pp}.jwks.local.inline`, message: 'may not be more than 16384 characters' },
  {
    name: 'remote JWKS without backendRef (kgateway\'s own JWT validation page): what to write',
    docs: [jwtExt({ jwks: { remote: { url: 'https://idp.example.com:8443/realms/demo/certs' } } })],
    resource: E,
    path: `${pp}.jwks.remote.backendRef`,
    message: 'Required value: kgateway fetches the JWKS through a backend, not from the url alone: add backendRef naming the Service or Backend that reaches idp.example.com, e.g. backendRef: {name: SERVICE, namespace: NS, port: 8443} (a Service needs its port) or backendRef: {group: gateway.kgateway.dev, kind: Backend, name: BACKEND} (a Backend with static host idp.example.com, port 8443)',
  },
  { name: 'remote JWKS without backendRef, an http:// url without a port: the hint says port 80 (branch no test took)', docs: [jwtExt({ jwks: { remote: { url: 'http://idp.example.com/certs' } } })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'reaches idp.example.com, e.g. backendRef: {name: SERVICE, namespace: NS, port: 80} (a Service needs its port) or backendRef: {group: gateway.kgateway.dev, kind: Backend, name: BACKEND} (a Backend with static host idp.example.com, port 80)' },
  { name: 'remote JWKS without backendRef, an https:// url without a port: the hint says port 443', docs: [jwtExt({ jwks: { remote: { url: 'https://idp.example.com/certs' } } })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'reaches idp.example.com, e.g. backendRef: {name: SERVICE, namespace: NS, port: 443} (a Service needs its port)' },
  { name: 'inline JWKS written as a YAML list is named a list (branch no test took)', docs: [jwtExt({ jwks: { local: { inline: [JSON.parse(JWKS)] } } })], resource: E, path: `${pp}.jwks.local.inline`, message: 'Invalid value: a list: must be a string holding the key text' },
  { name: 'claimsToHeaders overwrite with a header name over 100 characters says "this header", not the name (branch no test took)', docs: [jwtExt({ claimsToHeaders: [{ name: 'team', header: `x-${'h'.repeat(99)}`, overwrite: true }] })], resource: E, path: `${pp}.claimsToHeaders[0].overwrite`, message: 'there kgateway removes this header from the requests of every route' },
  { name: 'a !!binary YAML value where a string belongs is named binary data, with what to write (branch no test took)', docs: 'apiVersion: gateway.kgateway.dev/v1alpha1\nkind: GatewayExtension\nmetadata: {name: ext, namespace: default}\nspec:\n  jwt:\n    providers:\n    - name: p\n      issuer: !!binary aGVsbG8=\n      jwks: {local: {inline: \'{"keys":[]}\'}}\n', resource: E, path: `${pp}.issuer`, message: 'Invalid value: binary data (a !!binary value: write the text as a string): must be of type string' },
  { name: 'a ConfigMap data value that is null is named null (branch no test took)', docs: [configMap({ jwks: null })], resource: 'ConfigMap/default/jwks', path: 'data.jwks', message: 'Invalid value: null: must be of type string' },
  { name: 'inline not a key', docs: [jwtExt({ jwks: { local: { inline: 'not a key' } } })], resource: E, path: `${pp}.jwks.local.inline`, message: 'cannot parse local jwks: ' },
  { name: 'configMapRef to a missing ConfigMap', docs: [jwtExt({ jwks: { local: { configMapRef: { name: 'jwks' } } } })], resource: E, path: `${pp}.jwks.local.configMapRef.name`, message: 'configmap default/jwks not found' },
  { name: 'ConfigMap in another namespace does not count', docs: [jwtExt({ jwks: { local: { configMapRef: { name: 'jwks' } } } }), configMap({ jwks: JWKS }, 'jwks', 'other')], resource: E, path: `${pp}.jwks.local.configMapRef.name`, message: 'configmap default/jwks not found' },
  { name: 'ConfigMap without a jwks key', docs: [jwtExt({ jwks: { local: { configMapRef: { name: 'jwks' } } } }), configMap({ keys: JWKS })], resource: E, path: `${pp}.jwks.local.configMapRef`, message: "configmap key 'jwks' not found" },
  { name: 'clockSkew with ms', docs: [jwtExt({ clockSkew: '500ms' })], resource: E, path: `${pp}.clockSkew`, message: 'invalid duration "500ms"' },
  { name: 'clockSkew above 87600h (kgateway bounds it to 1s..87600h): tokens expired for years would pass', docs: [jwtExt({ clockSkew: '87600h1s' })], resource: E, path: `${pp}.clockSkew`, message: 'clockSkew 87600h1s is 315360001 s, above 87600h (10 years), the most kgateway accepts' },
  { name: 'clockSkew as a number', docs: [jwtExt({ clockSkew: 30 })], resource: E, path: `${pp}.clockSkew`, message: 'must be a duration string' },
  { name: 'forwardToken as a string', docs: [jwtExt({ forwardToken: 'yes' })], resource: E, path: `${pp}.forwardToken`, message: 'must be of type boolean' },
  // ----- older field names and typos
  { name: 'keepToken (older API)', docs: [jwtExt({ keepToken: 'Forward' })], resource: E, path: `${pp}.keepToken`, message: 'use forwardToken: true' },
  { name: 'tokenSource.headers (older API)', docs: [jwtExt({ tokenSource: { headers: [{ header: 'x-jwt' }] } })], resource: E, path: `${pp}.tokenSource.headers`, message: 'use tokenSource.header' },
  { name: 'tokenSource.queryParams (older API)', docs: [jwtExt({ tokenSource: { queryParams: ['token'] } })], resource: E, path: `${pp}.tokenSource.queryParams`, message: 'use tokenSource.queryParameter' },
  { name: 'jwks.local.key (older API)', docs: [jwtExt({ jwks: { local: { key: JWKS } } })], resource: E, path: `${pp}.jwks.local.key`, message: 'use jwks.local.inline' },
  { name: 'remoteJwks (docs typo)', docs: [jwtExt({ remoteJwks: { url: 'https://x' } })], resource: E, path: `${pp}.remoteJwks`, message: 'use jwks.remote' },
  { name: 'YAML 1.1 boolean (yes) where a boolean is expected', docs: [jwtExt({ forwardToken: 'yes' })], resource: E, path: `${pp}.forwardToken`, message: 'Invalid value: string "yes": must be of type boolean (kubectl reads "yes" as true: write true)' },
  { name: 'a later kgateway TrafficPolicy field (tracing): known, not applied (a warning, not an unknown-field error)', docs: [gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], tracing: {} })], resource: P, path: 'spec.tracing', message: 'tracing ignored: not supported yet', severity: 'warning' },
  { name: 'TrafficPolicy acl (access control): refused, fails closed', docs: [gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], acl: { defaultAction: 'Deny' } })], resource: P, path: 'spec.acl', message: 'acl is not supported by this jwtgate version: the policy is rejected' },
  { name: 'a later kgateway BackendConfigPolicy field (dns): known, not applied', docs: [{ ...bcp({ insecureSkipVerify: true }), spec: { targetRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'idp' }], dns: {} } }], resource: BCP, path: 'spec.dns', message: 'dns is kept but not applied', severity: 'warning' },
  { name: 'a later kgateway remote JWKS field (timeout): known, not applied', docs: [jwtExt({ jwks: remote({ timeout: '10s' }) })], resource: E, path: `${pp}.jwks.remote.timeout`, message: 'timeout is not applied by this jwtgate version', severity: 'warning' },
  { name: 'a later kgateway provider field (cache): known, not applied', docs: [jwtExt({ cache: { maxTokens: 10 } })], resource: E, path: `${pp}.cache`, message: 'cache is not applied by this jwtgate version', severity: 'warning' },
  { name: 'clockSkew 0s is 60 s to Envoy (proto3 0 = unset): warned', docs: [jwtExt({ clockSkew: '0s' })], resource: E, path: `${pp}.clockSkew`, message: 'clockSkew 0s means unset to Envoy (clock_skew_seconds 0): 60 s of skew still applies', severity: 'warning' },
  { name: 'typo issuers', docs: [jwtExt({ issuers: 'x' })], resource: E, path: `${pp}.issuers`, message: 'did you mean "issuer"?' },
  { name: 'typo claimToHeaders', docs: [jwtExt({ claimToHeaders: [] })], resource: E, path: `${pp}.claimToHeaders`, message: 'did you mean "claimsToHeaders"?' },
  // ----- jwks.remote
  { name: 'remote https without BackendConfigPolicy tls (TLS here, plaintext in Envoy)', docs: [jwtExt({ jwks: remote() })], resource: E, path: `${pp}.jwks.remote.url`, message: 'https:// URL and no BackendConfigPolicy tls for the backend: jwtgate connects with TLS', severity: 'warning' },
  // ----- BackendConfigPolicy tls (remote JWKS transport) and Secret
  { name: 'tls with two trust sources', docs: [bcp({ insecureSkipVerify: true, wellKnownCACertificates: 'System' })], resource: BCP, path: 'spec.tls', message: 'at most one of secretRef, files, insecureSkipVerify, wellKnownCACertificates may be set' },
  { name: 'tls without trust source or sni', docs: [bcp({ verifySubjectAltNames: ['idp'] })], resource: BCP, path: 'spec.tls', message: 'sni is required when no trust source is set' },
  { name: 'tls wellKnownCACertificates not System', docs: [bcp({ wellKnownCACertificates: 'Custom' })], resource: BCP, path: 'spec.tls.wellKnownCACertificates', message: 'Unsupported value: "Custom"' },
  { name: 'tls files empty', docs: [bcp({ files: {} })], resource: BCP, path: 'spec.tls.files', message: 'At least one of tlsCertificate, tlsKey, or rootCA must be set in TLSFiles' },
  { name: 'tls secretRef not found', docs: [bcp({ secretRef: { name: 'ca' } })], resource: BCP, path: 'spec.tls.secretRef.name', message: 'Secret default/ca not found' },
  { name: 'tls secret without ca.crt or tls.crt/tls.key', docs: [bcp({ secretRef: { name: 'ca' } }), secret({ 'other': 'eA==' })], resource: BCP, path: 'spec.tls.secretRef.name', message: 'has neither ca.crt nor tls.crt and tls.key' },
  { name: 'tls secret ca.crt not a certificate', docs: [bcp({ secretRef: { name: 'ca' } }), secret({ 'ca.crt': Buffer.from('hello').toString('base64') })], resource: BCP, path: 'spec.tls.secretRef.name', message: 'ca.crt is not a PEM certificate' },
  { name: 'tls verifySubjectAltNames without a root CA', docs: [bcp({ files: { tlsCertificate: '/c.pem', tlsKey: '/k.pem' }, verifySubjectAltNames: ['idp'] })], resource: BCP, path: 'spec.tls.verifySubjectAltNames', message: 'needs a root CA' },
  { name: 'tls cipherSuites not applied', docs: [bcp({ sni: 'idp', parameters: { cipherSuites: ['x'] } })], resource: BCP, path: 'spec.tls.parameters.cipherSuites', message: 'not applied by jwtgate', severity: 'warning' },
  { name: 'BackendConfigPolicy target Backend in the core group', docs: [{ ...bcp({ insecureSkipVerify: true }), spec: { targetRefs: [{ group: '', kind: 'Backend', name: 'idp' }], tls: { insecureSkipVerify: true } } }], resource: BCP, path: 'spec.targetRefs[0]', message: 'TargetRefs must reference either a Kubernetes Service, a Backend, or an Istio Hostname (got group "", kind Backend)' },
  { name: 'BackendConfigPolicy target selector of a Gateway', docs: [{ ...bcp({ insecureSkipVerify: true }), spec: { targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { a: 'b' } }], tls: { insecureSkipVerify: true } } }], resource: BCP, path: 'spec.targetSelectors[0]', message: 'TargetSelectors must reference either a Kubernetes Service, a Backend, or an Istio Hostname' },
  { name: 'BackendConfigPolicy tls for a Backend that does not exist', docs: [bcp({ insecureSkipVerify: true })], resource: BCP, path: 'spec.targetRefs[0].name', message: "target Backend default/idp not found: this policy's tls applies to no Backend of that name", severity: 'warning' },
  { name: 'Secret data not base64', docs: [secret({ 'ca.crt': 'not base64!' })], resource: 'Secret/default/ca', path: 'data.ca.crt', message: 'must be base64-encoded' },
  { name: 'remote url not http', docs: [jwtExt({ jwks: remote({ url: 'ftp://idp/jwks' }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'must be a full http:// or https:// URL' },
  { name: 'remote https url with unexpanded shell variables (was a crash)', docs: [jwtExt({ jwks: remote({ url: 'https://$HOST_KEYCLOAK:$PORT_KEYCLOAK/realms/master/protocol/openid-connect/certs' }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'must be a full http:// or https:// URL' },
  { name: 'remote url without scheme: credentials not quoted', docs: [jwtExt({ jwks: remote({ url: 'svc-account:Pa55w0rd@idp.example.com/certs?api_key=K3Y#frag' }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'Invalid value: "redacted@idp.example.com/certs?redacted": must be a full http:// or https:// URL' },
  { name: 'Secret value written as a YAML number: its type only', docs: [secret({ pin: 8675309123 })], resource: 'Secret/default/ca', path: 'data.pin', message: 'Invalid value: a number: must be of type string' },
  { name: 'remote url missing', docs: [jwtExt({ jwks: remote({ url: undefined }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'Required value' },
  { name: 'remote backendRef missing', docs: [jwtExt({ jwks: remote({ backendRef: undefined }) })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'Required value' },
  { name: 'remote Service backendRef without port', docs: [jwtExt({ jwks: remote({ backendRef: { name: 'idp' } }) })], resource: E, path: `${pp}.jwks.remote.backendRef.port`, message: 'must have port for Service reference' },
  { name: 'remote backendRef cross-namespace without ReferenceGrant', docs: [jwtExt({ jwks: remote({ backendRef: { name: 'idp', namespace: 'idp', port: 443 } }) })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'jwt: jwt: remote jwks: unresolved backend ref: missing reference grant' },
  { name: 'remote Backend not found', docs: [jwtExt({ jwks: remote({ backendRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'idp' } }) })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'Backend default/idp not found' },
  { name: 'cacheDuration not a duration', docs: [jwtExt({ jwks: remote({ cacheDuration: '10 minutes' }) })], resource: E, path: `${pp}.jwks.remote.cacheDuration`, message: 'invalid duration "10 minutes"' },
  { name: 'cacheDuration zero', docs: [jwtExt({ jwks: remote({ cacheDuration: '0s' }) })], resource: E, path: `${pp}.jwks.remote.cacheDuration`, message: 'must be at least 1ms' },
  { name: 'failedRefetchDuration bad', docs: [jwtExt({ jwks: remote({ asyncFetch: { failedRefetchDuration: '1d' } }) })], resource: E, path: `${pp}.jwks.remote.asyncFetch.failedRefetchDuration`, message: 'invalid duration "1d"' },
  { name: 'numRetries zero', docs: [jwtExt({ jwks: remote({ retryPolicy: { numRetries: 0 } }) })], resource: E, path: `${pp}.jwks.remote.retryPolicy.numRetries`, message: 'must be greater than or equal to 1' },
  { name: 'backOff without baseInterval', docs: [jwtExt({ jwks: remote({ retryPolicy: { backOff: { maxInterval: '5s' } } }) })], resource: E, path: `${pp}.jwks.remote.retryPolicy.backOff.baseInterval`, message: 'Required value' },
  { name: 'backOff maxInterval below base', docs: [jwtExt({ jwks: remote({ retryPolicy: { backOff: { baseInterval: '2s', maxInterval: '1s' } } }) })], resource: E, path: `${pp}.jwks.remote.retryPolicy.backOff.maxInterval`, message: 'must be greater than or equal to baseInterval' },
  // ----- TrafficPolicy
  { name: 'jwtAuth with extensionRef and disable', docs: [jwtExt(), gateway(), gwPolicy({ jwtAuth: { extensionRef: { name: 'ext' }, disable: {} } })], resource: P, path: 'spec.jwtAuth', message: 'exactly one of extensionRef, disable must be set' },
  { name: 'jwtAuth extension not found', docs: [gateway(), gwPolicy({ jwtAuth: { extensionRef: { name: 'nope' } } })], resource: P, path: 'spec.jwtAuth.extensionRef', message: 'default/nope: gateway extension not found' },
  { name: 'jwtAuth extension namespace is the policy namespace', docs: [jwtExt({}, {}, 'ext', 'other'), gateway(), gwPolicy()], resource: P, path: 'spec.jwtAuth.extensionRef', message: 'default/ext: gateway extension not found' },
  { name: 'jwtAuth extension not jwt', docs: [ext({ extAuth: { grpcService: {} } }), gateway(), gwPolicy()], resource: P, path: 'spec.jwtAuth.extensionRef', message: 'expected gatewayextension type JWT' },
  { name: 'jwtAuth extension invalid', docs: [jwtExt({ jwks: { local: { inline: 'nope' } } }), gateway(), gwPolicy()], resource: P, path: 'spec.jwtAuth.extensionRef', message: 'GatewayExtension default/ext is invalid: cannot parse local jwks: ' },
  { name: 'TrafficPolicy spec.jwt (older name)', docs: [jwtExt(), gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwt: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.jwt', message: 'use spec.jwtAuth' },
  // rbac (shared.Authorization; spec §2.3): the CRD's limits, then each expression as kgateway parses it and Envoy builds it.
  { name: 'rbac without policy', docs: [gateway(), gwPolicy({ rbac: { action: 'Allow' } })], resource: P, path: 'spec.rbac.policy', message: 'Required value' },
  { name: 'rbac without matchExpressions', docs: [gateway(), gwPolicy({ rbac: { policy: {} } })], resource: P, path: 'spec.rbac.policy.matchExpressions', message: 'Required value' },
  { name: 'rbac with an empty matchExpressions', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: [] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions', message: 'must have at least 1 item' },
  { name: 'rbac with an empty expression', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: [''] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'must not be empty' },
  { name: 'rbac expression over 16384 characters', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: [`request.path == '${'a'.repeat(16370)}'`] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'Too long: may not be more than 16384 characters' },
  { name: 'rbac action not Allow or Deny', docs: [gateway(), gwPolicy({ rbac: { action: 'allow', policy: { matchExpressions: ['true'] } } })], resource: P, path: 'spec.rbac.action', message: 'Unsupported value: "allow": supported values: "Allow", "Deny" (did you mean "Allow"?)' },
  { name: 'rbac CEL syntax error, with its position', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ['true', "request.headers['x-role'] = 'admin'"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[1]', message: 'CEL syntax error: at 1:' },
  { name: 'rbac split() (the claim-based RBAC doc\'s scope example): Envoy has no such function', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["'admin' in metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']['scope'].split(' ')"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: "function 'split' is not available in Envoy's CEL (no overload): Envoy refuses the expression" },
  { name: 'rbac exists() macro: comprehensions are off in Envoy', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']['groups'].exists(g, g == 'admin')"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'comprehensions (the macros exists, all, exists_one, map, filter) are disabled' },
  { name: 'rbac string() conversion', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["string(request.size) == '0'"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'string() is not enabled in Envoy\'s CEL' },
  { name: 'rbac undeclared variable (kgateway declares request, source, destination, connection, metadata)', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["xds.route_name == 'r'"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: "undeclared reference to 'xds'" },
  { name: 'rbac source.address: not available from uWebSockets.js', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["source.address.startsWith('10.')"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'source is not available in jwtgate' },
  { name: 'rbac request attribute that does not exist', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["request.header['x'] == 'y'"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'request.header is not an Envoy request attribute' },
  { name: 'rbac request attribute by index', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["request['total_size'] > 0"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'request.total_size is not provided by jwtgate' },
  { name: 'rbac regex RE2 refuses (backreference)', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["request.path.matches('(a)\\\\1')"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'invalid regular expression' },
  { name: 'rbac regex over Envoy\'s program size 100', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: ["request.path.matches('[a-z]{1,50}@example\\\\.com')"] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: "over Envoy's limit of 100" },
  { name: 'rbac expression of 8,000 terms (16 KiB): refused, not a crash of the config build', docs: [gateway(), gwPolicy({ rbac: { policy: { matchExpressions: [`${Array.from({ length: 8000 }, () => '1').join('+')} > 0`] } } })], resource: P, path: 'spec.rbac.policy.matchExpressions[0]', message: 'nests deeper than 250 levels' },
  { name: 'rbac with a field of a later kgateway version', docs: [gateway(), gwPolicy({ rbac: { allowedCIDRs: ['10.0.0.0/8'], policy: { matchExpressions: ['true'] } } })], resource: P, path: 'spec.rbac.allowedCIDRs', message: 'unknown field "allowedCIDRs"' },
  { name: 'extProc is refused (its processor can deny or change requests)', docs: [jwtExt(), gateway(), gwPolicy({ extProc: { extensionRef: { name: 'proc' } } })], resource: P, path: 'spec.extProc', message: 'extProc is not supported by this jwtgate version: the policy is rejected' },
  { name: 'buffer with neither field', docs: [gateway(), route({}), routePol({ buffer: {} })], resource: P, path: 'spec.buffer', message: 'exactly one of the fields in [maxRequestSize disable] must be set' },
  { name: 'buffer with both fields', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: '1Mi', disable: {} } })], resource: P, path: 'spec.buffer', message: 'exactly one of the fields in [maxRequestSize disable] must be set' },
  { name: 'buffer maxRequestSize 0', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: '0' } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'Invalid value: string "0": maxRequestSize must be greater than 0 and less than 4Gi' },
  { name: 'buffer maxRequestSize 0 as an integer', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: 0 } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'maxRequestSize must be greater than 0 and less than 4Gi' },
  { name: 'buffer maxRequestSize negative', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: '-1Ki' } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'maxRequestSize must be greater than 0 and less than 4Gi' },
  { name: 'buffer maxRequestSize 4Gi (the limit is exclusive)', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: '4Gi' } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'maxRequestSize must be greater than 0 and less than 4Gi' },
  { name: 'buffer maxRequestSize 4294967296 as an integer', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: 4294967296 } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'maxRequestSize must be greater than 0 and less than 4Gi' },
  { name: 'buffer maxRequestSize not a quantity (1MB)', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: '1MB' } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'Invalid value: string "1MB": quantities must match the regular expression' },
  { name: 'buffer maxRequestSize a float', docs: [gateway(), route({}), routePol({ buffer: { maxRequestSize: 1.5 } })], resource: P, path: 'spec.buffer.maxRequestSize', message: 'Invalid value: number 1.5: must be an integer or a quantity string such as "1Mi"' },
  { name: 'buffer an older pre-release field (maxRequestBytes)', docs: [gateway(), route({}), routePol({ buffer: { maxRequestBytes: 1024 } })], resource: P, path: 'spec.buffer.maxRequestBytes', message: 'unknown field' },
  { name: 'compression with neither side', docs: [gateway(), route({}), routePol({ compression: {} })], resource: P, path: 'spec.compression', message: 'at least one of responseCompression, requestDecompression must be set' },
  { name: 'compression libraries with a duplicate', docs: [gateway(), route({}), routePol({ compression: { responseCompression: { libraries: ['Gzip', 'Gzip'] } } })], resource: P, path: 'spec.compression.responseCompression.libraries', message: 'libraries must not contain duplicates' },
  { name: 'compression an unknown library', docs: [gateway(), route({}), routePol({ compression: { responseCompression: { libraries: ['Deflate'] } } })], resource: P, path: 'spec.compression.responseCompression.libraries[0]', message: 'Unsupported value: "Deflate"' },
  { name: 'compression a negative minimum length', docs: [gateway(), route({}), routePol({ compression: { responseCompression: { minContentLengthBytes: -1 } } })], resource: P, path: 'spec.compression.responseCompression.minContentLengthBytes', message: 'must be greater than or equal to 0' },
  { name: 'compression an empty contentTypes list', docs: [gateway(), route({}), routePol({ compression: { responseCompression: { contentTypes: [] } } })], resource: P, path: 'spec.compression.responseCompression.contentTypes', message: 'must have at least 1 item' },
  { name: 'autoHostRewrite on a policy targeting a Gateway (the CRD allows HTTPRoute targets only)', docs: [jwtExt(), gateway(), gwPolicy({ autoHostRewrite: true })], resource: P, path: 'spec.autoHostRewrite', message: 'Invalid value: autoHostRewrite can only be used when targeting HTTPRoute resources' },
  { name: 'autoHostRewrite not a boolean', docs: [gateway(), route({}), routePol({ autoHostRewrite: 'yes' })], resource: P, path: 'spec.autoHostRewrite', message: 'must be of type boolean' },
  { name: 'urlRewrite on a policy targeting a Gateway (the CRD allows HTTPRoute targets only)', docs: [jwtExt(), gateway(), gwPolicy({ urlRewrite: { pathRegex: { pattern: '^/v1', substitution: '/v2' } } })], resource: P, path: 'spec.urlRewrite', message: 'Invalid value: urlRewrite can only be used when targeting HTTPRoute resources' },
  { name: 'urlRewrite on a policy with an HTTPRoute and a Gateway selector', docs: [gateway(), route({}), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app' }], targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { a: 'b' } }], urlRewrite: { pathRegex: { pattern: '^/v1', substitution: '/v2' } } })], resource: P, path: 'spec.urlRewrite', message: 'urlRewrite can only be used when targeting HTTPRoute resources' },
  { name: 'urlRewrite without pathRegex', docs: [gateway(), route({}), routePol({ urlRewrite: {} })], resource: P, path: 'spec.urlRewrite.pathRegex', message: 'Required value' },
  { name: 'urlRewrite an older pre-release shape (path) is an unknown field', docs: [gateway(), route({}), routePol({ urlRewrite: { path: { pattern: '^/v1', substitution: '/v2' }, pathRegex: { pattern: 'a', substitution: 'b' } } })], resource: P, path: 'spec.urlRewrite.path', message: 'unknown field' },
  { name: 'urlRewrite an empty substitution', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1', substitution: '' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: 'must not be empty' },
  { name: 'urlRewrite a pattern over 1024 characters', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: 'a'.repeat(1025), substitution: '/' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.pattern', message: 'may not be more than 1024' },
  { name: 'urlRewrite a pattern RE2 refuses (kgateway compiles it: the policy is invalid)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/(?!admin)', substitution: '/' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.pattern', message: 'lookaround assertions are not supported by RE2' },
  { name: 'urlRewrite a substitution naming a group the pattern lacks (a warning: never rewrites)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1/(.*)', substitution: '/v2/\\2' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: 'the substitution uses \\2 but the pattern has one capture group: Envoy\'s RE2 refuses to substitute, so no path is ever rewritten', severity: 'warning' },
  { name: 'urlRewrite a named-group reference (a warning: RE2 stops there)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1/(?P<rest>.*)', substitution: '/v2/\\g<rest>' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: '"\\g" is not an escape RE2 substitutes', severity: 'warning' },
  { name: 'urlRewrite $1 (a warning: literal text to RE2)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1/(.*)', substitution: '/v2/$1' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: 'RE2 reads "$1" as literal text: refer to a group as \\1', severity: 'warning' },
  { name: 'urlRewrite ${1} (a warning: literal text to RE2)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1/(.*)', substitution: '/v2/${1}' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: 'RE2 reads "$1" as literal text', severity: 'warning' },
  { name: 'urlRewrite an anchored pattern whose substitution does not start with / (a warning: answered 400)', docs: [gateway(), route({}), routePol({ urlRewrite: { pathRegex: { pattern: '^/api/', substitution: 'v2/' } } })], resource: P, path: 'spec.urlRewrite.pathRegex.substitution', message: 'a path the pattern matches (it is anchored at the start) becomes one that does not start with "/" ("v2/"): such requests are answered 400', severity: 'warning' },
  { name: 'urlRewrite skipped where the rule\'s URLRewrite filter rewrites the path (a warning)', docs: [gateway(), route({ rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/x' } } }], backendRefs: [{ name: 'app', port: 80 }] }] }), routePol({ urlRewrite: { pathRegex: { pattern: '^/v1', substitution: '/v2' } } })], resource: R, path: 'spec.rules[0].filters', message: "this rule's URLRewrite filter rewrites the path, so the urlRewrite of TrafficPolicy/default/pol is not applied to it", severity: 'warning' },
  // Timeouts: HTTPRoute rule timeouts (Gateway API), TrafficPolicy timeouts (kgateway).
  { name: 'HTTPRoute rule timeouts.request: not a Gateway API duration', docs: [gateway(), rule({ timeouts: { request: '1.5s' } })], resource: R, path: 'spec.rules[0].timeouts.request', message: 'invalid duration "1.5s"' },
  { name: 'HTTPRoute rule timeouts: backendRequest longer than request (the CRD\'s rule)', docs: [gateway(), rule({ timeouts: { request: '1s', backendRequest: '2s' } })], resource: R, path: 'spec.rules[0].timeouts', message: 'backendRequest timeout cannot be longer than request timeout' },
  { name: 'HTTPRoute rule timeouts: a misspelt field', docs: [gateway(), rule({ timeouts: { backendTimeout: '2s' } })], resource: R, path: 'spec.rules[0].timeouts.backendTimeout', message: 'unknown field "backendTimeout"' },
  { name: 'TrafficPolicy timeouts.request: not a duration', docs: [jwtExt(), gateway(), gwPolicy({ timeouts: { request: 10 } })], resource: P, path: 'spec.timeouts.request', message: 'must be a duration string' },
  { name: 'TrafficPolicy timeouts.streamIdle: not a duration', docs: [jwtExt(), gateway(), gwPolicy({ timeouts: { streamIdle: '1d' } })], resource: P, path: 'spec.timeouts.streamIdle', message: 'invalid duration "1d"' },
  { name: 'TrafficPolicy retry.perTryTimeout not under timeouts.request (the CRD\'s rule)', docs: [jwtExt(), gateway(), gwPolicy({ timeouts: { request: '1s' }, retry: { attempts: 2, retryOn: ['5xx'], perTryTimeout: '1s' } })], resource: P, path: 'spec.retry.perTryTimeout', message: 'retry.perTryTimeout must be less than timeouts.request' },
  // Retries: HTTPRoute rule retry (Gateway API HTTPRouteRetry), TrafficPolicy retry (kgateway Retry).
  { name: 'HTTPRoute rule retry.attempts negative (Envoy\'s num_retries is unsigned)', docs: [gateway(), rule({ retry: { attempts: -1 } })], resource: R, path: 'spec.rules[0].retry.attempts', message: 'Invalid value: -1: attempts may not be negative' },
  { name: 'HTTPRoute rule retry.codes: 399 (the CRD\'s minimum is 400)', docs: [gateway(), rule({ retry: { codes: [399] } })], resource: R, path: 'spec.rules[0].retry.codes[0]', message: 'Invalid value: 399: must be greater than or equal to 400' },
  { name: 'HTTPRoute rule retry.codes: 600 (the CRD\'s maximum is 599)', docs: [gateway(), rule({ retry: { codes: [503, 600] } })], resource: R, path: 'spec.rules[0].retry.codes[1]', message: 'Invalid value: 600: must be less than or equal to 599' },
  { name: 'HTTPRoute rule retry.backoff: not a Gateway API duration', docs: [gateway(), rule({ retry: { backoff: '1.5s' } })], resource: R, path: 'spec.rules[0].retry.backoff', message: 'invalid duration "1.5s"' },
  { name: 'HTTPRoute rule retry.backoff 0s (Envoy\'s base_interval must be over 0)', docs: [gateway(), rule({ retry: { backoff: '0s' } })], resource: R, path: 'spec.rules[0].retry.backoff', message: 'must be at least 1ms' },
  { name: 'HTTPRoute rule retry: a misspelt field', docs: [gateway(), rule({ retry: { attempt: 2 } })], resource: R, path: 'spec.rules[0].retry.attempt', message: 'did you mean "attempts"?' },
  { name: 'HTTPRoute rule sessionPersistence is still a warning (not applied)', docs: [gateway(), rule({ sessionPersistence: { sessionName: 's' } })], resource: R, path: 'spec.rules[0].sessionPersistence', message: 'sessionPersistence is ignored', severity: 'warning' },
  { name: 'TrafficPolicy retry with neither retryOn nor statusCodes (the CRD\'s rule)', docs: [jwtExt(), gateway(), gwPolicy({ retry: { attempts: 2 } })], resource: P, path: 'spec.retry', message: 'Invalid value: retryOn or statusCodes must be set' },
  { name: 'TrafficPolicy retry.retryOn: a condition outside the enum', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx', 'gateway-errors'] } })], resource: P, path: 'spec.retry.retryOn[1]', message: 'Unsupported value: "gateway-errors"' },
  { name: 'TrafficPolicy retry.retryOn: an empty list', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: [] } })], resource: P, path: 'spec.retry.retryOn', message: 'must have at least 1 item' },
  { name: 'TrafficPolicy retry.attempts -1', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx'], attempts: -1 } })], resource: P, path: 'spec.retry.attempts', message: 'Invalid value: -1: must be greater than or equal to 0' },
  { name: 'TrafficPolicy retry.perTryTimeout 0s (at least 1ms)', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx'], perTryTimeout: '0s' } })], resource: P, path: 'spec.retry.perTryTimeout', message: 'must be at least 1ms' },
  { name: 'TrafficPolicy retry.backoffBaseInterval 0s (at least 1ms)', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx'], backoffBaseInterval: '0s' } })], resource: P, path: 'spec.retry.backoffBaseInterval', message: 'must be at least 1ms' },
  { name: 'TrafficPolicy retry.statusCodes: an empty list', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx'], statusCodes: [] } })], resource: P, path: 'spec.retry.statusCodes', message: 'must have at least 1 item' },
  { name: 'TrafficPolicy retry.statusCodes: 600', docs: [jwtExt(), gateway(), gwPolicy({ retry: { statusCodes: [600] } })], resource: P, path: 'spec.retry.statusCodes[0]', message: 'must be less than or equal to 599' },
  { name: 'TrafficPolicy retry.retryHostPredicates (a newer kgateway field): a warning saying what is not applied', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['5xx'], retryHostPredicates: [{ previousHosts: {} }] } })], resource: P, path: 'spec.retry.retryHostPredicates', message: 'retry.retryHostPredicates ignored: not applied by this jwtgate version', severity: 'warning' },
  { name: 'TrafficPolicy retry.rateLimitedBackOff (a newer kgateway field): a warning saying what is not applied', docs: [jwtExt(), gateway(), gwPolicy({ retry: { retryOn: ['envoy-ratelimited'], rateLimitedBackOff: { resetHeaders: [{ name: 'retry-after' }] } } })], resource: P, path: 'spec.retry.rateLimitedBackOff', message: 'retry.rateLimitedBackOff ignored: not applied by this jwtgate version', severity: 'warning' },
  { name: 'TrafficPolicy hashPolicies is still a warning (not applied)', docs: [jwtExt(), gateway(), gwPolicy({ hashPolicies: [{ header: { name: 'x-user' } }] })], resource: P, path: 'spec.hashPolicies', message: 'hashPolicies ignored: not supported yet', severity: 'warning' },
  // TrafficPolicy rateLimit (kgateway RateLimit; local is applied, global warned about).
  { name: 'rateLimit.local: fillInterval is required', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 1 } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.fillInterval', message: 'Required value' },
  { name: 'rateLimit.local: maxTokens is required', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { fillInterval: '1s' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.maxTokens', message: 'Required value' },
  { name: 'rateLimit.local: maxTokens at least 1', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 0, fillInterval: '1s' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.maxTokens', message: 'must be greater than or equal to 1' },
  { name: 'rateLimit.local: tokensPerFill at least 1', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 1, tokensPerFill: 0, fillInterval: '1s' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.tokensPerFill', message: 'must be greater than or equal to 1' },
  { name: 'rateLimit.local: fillInterval under 50ms (the CRD and Envoy refuse it)', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: '49ms' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.fillInterval', message: 'must be at least 50ms' },
  { name: 'rateLimit.local: fillInterval not a duration', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: '1 second' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.fillInterval', message: 'invalid duration "1 second"' },
  { name: 'rateLimit.local: percentEnforced over 100', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxTokens: 1, fillInterval: '1s' }, percentEnforced: 101 } } })], resource: P, path: 'spec.rateLimit.local.percentEnforced', message: 'must be less than or equal to 100' },
  { name: 'rateLimit.local: percentEnabled without a tokenBucket (Envoy refuses a per-route config without one)', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { percentEnabled: 50 } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket', message: 'percentEnabled and percentEnforced need a tokenBucket' },
  { name: 'rateLimit.local: a misspelt field', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { local: { tokenBucket: { maxToken: 1, fillInterval: '1s' } } } })], resource: P, path: 'spec.rateLimit.local.tokenBucket.maxToken', message: 'did you mean "maxTokens"?' },
  { name: 'rateLimit.global is a warning (no rate limit service is called)', docs: [jwtExt(), gateway(), gwPolicy({ rateLimit: { global: { extensionRef: { name: 'rl' }, descriptors: [{ entries: [{ type: 'RemoteAddress' }] }] } } })], resource: P, path: 'spec.rateLimit.global', message: 'rateLimit.global ignored: jwtgate does not call a rate limit service', severity: 'warning' },
  { name: 'oauth2 is refused', docs: [jwtExt(), gateway(), gwPolicy({ oauth2: { extensionRef: { name: 'oidc' } } })], resource: P, path: 'spec.oauth2', message: 'oauth2 is not supported by this jwtgate version' },
  { name: 'extAuth naming no GatewayExtension', docs: [jwtExt(), gateway(), gwPolicy({ extAuth: { extensionRef: { name: 'authz' } } })], resource: P, path: 'spec.extAuth.extensionRef', message: 'gateway extension not found' },
  { name: 'extAuth with neither extensionRef nor disable', docs: [jwtExt(), gateway(), gwPolicy({ extAuth: { withRequestBody: { maxRequestBytes: 10 } } })], resource: P, path: 'spec.extAuth', message: 'exactly one of extensionRef, disable must be set' },
  { name: 'extAuth with neither grpcService nor httpService', docs: [ext({ extAuth: { failOpen: true } })], resource: E, path: 'spec.extAuth', message: 'exactly one of grpcService, httpService must be set' },
  { name: 'extAuth pathPrefix without a slash', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz', port: 80 }, pathPrefix: 'verify' } } })], resource: E, path: 'spec.extAuth.httpService.pathPrefix', message: 'must start with "/"' },
  { name: 'extAuth statusOnError out of range', docs: [ext({ extAuth: { statusOnError: 99, httpService: { backendRef: { name: 'authz', port: 80 } } } })], resource: E, path: 'spec.extAuth.statusOnError', message: '100' },
  { name: 'extAuth Service backendRef without a port', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz' } } } })], resource: E, path: 'spec.extAuth.httpService.backendRef.port', message: 'must have port for Service reference' },
  { name: 'extAuth headersToAdd value with a line break', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz', port: 80 }, authorizationRequest: { headersToAdd: { 'x-a': 'a\nb' } } } } })], resource: E, path: 'spec.extAuth.httpService.authorizationRequest.headersToAdd.x-a', message: 'control character' },
  { name: 'extAuth headersToAdd name that is not a token', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz', port: 80 }, authorizationRequest: { headersToAdd: { 'x a': 'v' } } } } })], resource: E, path: 'spec.extAuth.httpService.authorizationRequest.headersToAdd.x a', message: 'a header name is a token' },
  { name: 'extAuth headersToAdd value with an unknown command operator', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz', port: 80 }, authorizationRequest: { headersToAdd: { 'x-a': '%BOGUS%' } } } } })], resource: E, path: 'spec.extAuth.httpService.authorizationRequest.headersToAdd.x-a', message: 'not an Envoy command operator' },
  { name: 'extAuth requestTimeout under 1ms', docs: [ext({ extAuth: { httpService: { backendRef: { name: 'authz', port: 80 }, requestTimeout: '0s' } } })], resource: E, path: 'spec.extAuth.httpService.requestTimeout', message: 'at least 1ms' },
  // basicAuth (kgateway's CRD rules, then the htpasswd lines as kgateway and Envoy take them).
  { name: 'basicAuth with none of users, secretRef, disable (the CRD\'s CEL rule)', docs: [gateway(), authPolicy({ basicAuth: {} })], resource: P, path: 'spec.basicAuth', message: 'exactly one of the fields in [users secretRef disable] must be set (none is set)' },
  { name: 'basicAuth with users and disable', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE], disable: {} } })], resource: P, path: 'spec.basicAuth', message: 'exactly one of the fields in [users secretRef disable] must be set (users and disable are set)' },
  { name: 'basicAuth null (users indented too little)', docs: [gateway(), authPolicy({ basicAuth: null, users: [ALICE] })], resource: P, path: 'spec.basicAuth', message: 'basicAuth is empty (null): are its users, secretRef indented under it?' },
  { name: 'basicAuth users empty', docs: [gateway(), authPolicy({ basicAuth: { users: [] } })], resource: P, path: 'spec.basicAuth.users', message: 'must have at least 1 item' },
  { name: 'basicAuth users item not a string (another product\'s shape): its value not shown', docs: [gateway(), authPolicy({ basicAuth: { users: [{ username: 'alice', password: 'Pa55w0rd' }] } })], resource: P, path: 'spec.basicAuth.users[0]', message: 'Invalid value (a object, not shown): must be of type string' },
  { name: 'basicAuth secretRef.key empty', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd', key: '' } } })], resource: P, path: 'spec.basicAuth.secretRef.key', message: 'must not be empty' },
  { name: 'basicAuth secretRef without name', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { key: 'users' } } })], resource: P, path: 'spec.basicAuth.secretRef.name', message: 'Required value' },
  { name: 'basicAuth a bcrypt line', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:$2y$05$c4WoMPo3SXsafkva.HHa6uXQZWr7oboPiC2bT/r7q1BB8I2s0BRqC'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a bcrypt hash ($2y$): only {SHA} hashes are supported (Envoy\'s basic_auth); generate one with `htpasswd -nbs USER PASSWORD` or `printf %s PASSWORD | openssl sha1 -binary | base64`' },
  { name: 'basicAuth an APR1 line', docs: [gateway(), authPolicy({ basicAuth: { users: ['bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/', ALICE] } })], resource: P, path: 'spec.basicAuth.users[0]', message: 'user "bob": an APR1-MD5 hash ($apr1$): only {SHA} hashes are supported' },
  { name: 'csrf both percentages', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, percentageShadowed: 10 } })], resource: P, path: 'spec.csrf', message: 'at most one of the fields in [percentageEnabled percentageShadowed] may be set' },
  { name: 'csrf percentage over 100', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 101 } })], resource: P, path: 'spec.csrf.percentageEnabled', message: 'must be less than or equal to 100' },
  { name: 'csrf an origin matcher with two fields', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, additionalOrigins: [{ exact: 'a', prefix: 'b' }] } })], resource: P, path: 'spec.csrf.additionalOrigins[0]', message: 'exactly one of the fields in [exact prefix suffix contains safeRegex] must be set' },
  { name: 'csrf a safeRegex RE2 refuses', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, additionalOrigins: [{ safeRegex: '(?=a)b' }] } })], resource: P, path: 'spec.csrf.additionalOrigins[0].safeRegex', message: 'lookaround assertions are not supported by RE2' },
  { name: 'csrf an empty prefix (Envoy refuses it; it would match every origin)', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, additionalOrigins: [{ prefix: '' }] } })], resource: P, path: 'spec.csrf.additionalOrigins[0].prefix', message: 'Invalid value: an empty prefix: Envoy refuses it' },
  { name: 'csrf over 16 origins', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, additionalOrigins: Array.from({ length: 17 }, (_, i) => ({ exact: `o${i}.example.com` })) } })], resource: P, path: 'spec.csrf.additionalOrigins', message: 'must have at most 16 items' },
  { name: 'csrf without percentageEnabled checks nothing (a warning)', docs: [gateway(), authPolicy({ csrf: { additionalOrigins: [{ exact: 'a.example.com' }] } })], resource: P, path: 'spec.csrf', message: 'without percentageEnabled (or with 0) kgateway writes the filter at 0%', severity: 'warning' },
  { name: 'csrf an origin written with its scheme never matches (a warning)', docs: [gateway(), authPolicy({ csrf: { percentageEnabled: 100, additionalOrigins: [{ exact: 'https://a.example.com' }] } })], resource: P, path: 'spec.csrf.additionalOrigins[0].exact', message: 'has a scheme: Envoy matches the origin\'s host[:port] only', severity: 'warning' },
  { name: 'DirectResponse status out of range', docs: [directResp({ status: 199 })], resource: DR, path: 'spec.status', message: 'must be greater than or equal to 200' },
  { name: 'DirectResponse status missing', docs: [directResp({ body: 'x' })], resource: DR, path: 'spec.status', message: 'Required value' },
  { name: 'DirectResponse an empty body (the CRD: at least 1 character)', docs: [directResp({ status: 200, body: '' })], resource: DR, path: 'spec.body', message: 'at least 1' },
  { name: 'DirectResponse a body over Envoy\'s 4096 bytes', docs: [directResp({ status: 200, body: 'é'.repeat(2049) })], resource: DR, path: 'spec.body', message: 'the body is 4098 bytes in UTF-8: Envoy refuses a direct response body over 4096 bytes' },
  { name: 'DirectResponse with both body and bodyFormat (the CRD\'s AtMostOneOf)', docs: [directResp({ status: 200, body: 'x', bodyFormat: { text: '%REQ(:path)%' } })], resource: DR, path: 'spec', message: 'at most one of the fields in [body bodyFormat] may be set' },
  { name: 'DirectResponse bodyFormat with neither text nor json', docs: [directResp({ status: 200, bodyFormat: { contentType: 'text/html' } })], resource: DR, path: 'spec.bodyFormat', message: 'exactly one of the fields in [json text] must be set (none is set)' },
  { name: 'DirectResponse bodyFormat.text with a lone % (Envoy refuses it)', docs: [directResp({ status: 200, bodyFormat: { text: '50% off' } })], resource: DR, path: 'spec.bodyFormat.text', message: 'a % at position 2 starts no Envoy command operator' },
  { name: 'DirectResponse bodyFormat.json with a command jwtgate does not evaluate, deep in the template', docs: [directResp({ status: 200, bodyFormat: { json: { a: [{ b: '%ROUTE_NAME%' }] } } })], resource: DR, path: 'spec.bodyFormat.json.a[0].b', message: '%ROUTE_NAME% is an Envoy command operator jwtgate does not evaluate' },
  { name: 'DirectResponse bodyFormat.json that is not an object', docs: [directResp({ status: 200, bodyFormat: { json: ['x'] } })], resource: DR, path: 'spec.bodyFormat.json', message: 'must be of type object' },
  { name: 'DirectResponse with a RequestRedirect on the rule', docs: [gateway(), directResp({ status: 200 }), rule({ backendRefs: [], filters: [drFilter, { type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'DirectResponse cannot be applied to route with existing action: the rule also has a RequestRedirect filter' },
  { name: 'DirectResponse with a URLRewrite on the rule', docs: [gateway(), directResp({ status: 200 }), rule({ backendRefs: [], filters: [drFilter, { type: 'URLRewrite', urlRewrite: { hostname: 'x.example.com' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'DirectResponse cannot be applied to route with existing action: the rule also has a URLRewrite filter' },
  { name: 'DirectResponse with a RequestMirror: the mirror is dropped (a warning)', docs: [gateway(), directResp({ status: 200 }), rule({ backendRefs: [], filters: [drFilter, { type: 'RequestMirror', requestMirror: { backendRef: { name: 'app', port: 80 } } }] })], resource: R, path: 'spec.rules[0].filters[1]', message: 'RequestMirror is dropped on a rule with a DirectResponse', severity: 'warning' },
  { name: 'DirectResponse with rule timeouts (a warning: nothing goes upstream)', docs: [gateway(), directResp({ status: 200 }), rule({ backendRefs: [], filters: [drFilter], timeouts: { request: '5s' } })], resource: R, path: 'spec.rules[0].timeouts', message: 'timeouts and retry do nothing on a rule with a DirectResponse', severity: 'warning' },
  { name: 'DirectResponse invalid: the rule that uses it has no action', docs: [gateway(), directResp({ status: 700 }), rule({ backendRefs: [], filters: [drFilter] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'DirectResponse default/dr is invalid (see its own errors): the rule has no action, and answers 500' },
  { name: 'basicAuth a SHA-512 crypt line', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a crypt hash ($6$): only {SHA} hashes are supported' },
  { name: 'basicAuth a DES crypt line', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:rqXexS6ZhobKA'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a plain-text password or a hash of a kind this check does not name: only {SHA} hashes are supported' },
  { name: 'basicAuth a plain-text password', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:correct horse battery staple'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a plain-text password or a hash of a kind this check does not name: only {SHA} hashes are supported' },
  { name: 'basicAuth a password shaped like a crypt marker is not quoted', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:$uperS3cret$2024'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a plain-text password or a hash of a kind this check does not name: only {SHA} hashes are supported' },
  { name: 'basicAuth a password shaped like a scheme marker is not quoted', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:{Winter2024}x'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": a plain-text password or a hash of a kind this check does not name: only {SHA} hashes are supported' },
  { name: 'basicAuth users written as one string: the line is not quoted', docs: [gateway(), authPolicy({ basicAuth: { users: ALICE } })], resource: P, path: 'spec.basicAuth.users', message: 'Invalid value: a string of 39 characters: must be a list' },
  { name: 'basicAuth a line without a colon', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'not an htpasswd line: no ":" between a user name and a hash (the line is not shown)' },
  { name: 'basicAuth a {SHA} hash of the wrong length', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, 'bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g'] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'user "bob": 27 characters after {SHA}, where a SHA-1 in base64 has 28' },
  { name: 'basicAuth a {SHA} hash followed by a field', docs: [gateway(), authPolicy({ basicAuth: { users: [`${ALICE}:admin`] } })], resource: P, path: 'spec.basicAuth.users[0]', message: 'user "alice": 34 characters after {SHA}, where a SHA-1 in base64 has 28 (something follows the hash after a ":")' },
  { name: 'basicAuth a user listed twice (kgateway keeps the first and refuses the policy)', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, BOB, ALICE] } })], resource: P, path: 'spec.basicAuth.users[2]', message: 'user "alice" is listed twice (first at spec.basicAuth.users[0]): kgateway keeps the first and refuses the policy' },
  { name: 'basicAuth an empty user name (kgateway passes it, Envoy refuses it)', docs: [gateway(), authPolicy({ basicAuth: { users: [ALICE, `:${ALICE.slice(6)}`] } })], resource: P, path: 'spec.basicAuth.users[1]', message: 'an empty user name (the line starts with ":"): Envoy\'s basic_auth refuses the configuration ("basic auth: empty user name or password")' },
  { name: 'basicAuth users that are all comments', docs: [gateway(), authPolicy({ basicAuth: { users: ['# alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', '  '] } })], resource: P, path: 'spec.basicAuth.users', message: 'basic auth: no valid users with {SHA} hash format found: users holds only blank lines and # comments' },
  { name: 'basicAuth a hash that is not base64 of a SHA-1 matches no password (a warning)', docs: [gateway(), authPolicy({ basicAuth: { users: ['alice:{SHA}not-a-sha1-digest-in-base64!'] } })], resource: P, path: 'spec.basicAuth.users[0]', message: 'user "alice": the 28 characters after {SHA} are not the base64 of a SHA-1 digest: no password matches them', severity: 'warning' },
  { name: 'basicAuth secretRef to a missing Secret', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } })], resource: P, path: 'spec.basicAuth.secretRef', message: 'basic auth: Secret default/htpasswd not found' },
  { name: 'basicAuth secretRef without the key', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), strSecret({ users: ALICE }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: "basic auth: secret default/htpasswd does not contain key '.htpasswd': its keys: users (name the one that holds the htpasswd lines in secretRef.key)" },
  { name: 'basicAuth secretRef key empty in the Secret', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd', key: 'users' } } }), strSecret({ users: '' }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: "basic auth: secret default/htpasswd key 'users' is empty" },
  { name: 'basicAuth secretRef to another namespace without a ReferenceGrant', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd', namespace: 'auth' } } }), strSecret({ '.htpasswd': ALICE }, 'htpasswd', 'auth')], resource: P, path: 'spec.basicAuth.secretRef', message: 'basic auth: missing reference grant: Secret auth/htpasswd is in another namespace: a ReferenceGrant in namespace auth must allow from group gateway.kgateway.dev kind TrafficPolicy namespace default to group "" kind Secret' },
  { name: 'basicAuth secretRef to an invalid Secret', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), secret({ '.htpasswd': 'not base64!' }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: 'basic auth: Secret default/htpasswd is invalid' },
  { name: 'basicAuth a bad line in the Secret: its line number', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), strSecret({ '.htpasswd': `# team\r\n${ALICE}\r\n  bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n` }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: "line 3 of Secret default/htpasswd key '.htpasswd': user \"bob\": an APR1-MD5 hash ($apr1$): only {SHA} hashes are supported" },
  { name: 'basicAuth a user twice in the Secret: both line numbers', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), strSecret({ '.htpasswd': `${ALICE}\n${BOB}\n${ALICE}` }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: "line 3 of Secret default/htpasswd key '.htpasswd': user \"alice\" is listed twice (first on line 1 of Secret default/htpasswd key '.htpasswd')" },
  { name: 'basicAuth a Secret of blank lines and comments', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'htpasswd' } } }), strSecret({ '.htpasswd': '# nobody yet\n\n' }, 'htpasswd')], resource: P, path: 'spec.basicAuth.secretRef', message: "basic auth: no valid users with {SHA} hash format found: key '.htpasswd' of Secret default/htpasswd holds only blank lines and # comments" },
  // apiKeyAuth (kgateway's CRD rules, then its Secrets as kgateway reads them).
  { name: 'apiKeyAuth with none of secretRef, secretSelector, disable (the CRD\'s CEL rule)', docs: [gateway(), authPolicy({ apiKeyAuth: { keySources: [{ header: 'x-api-key' }] } })], resource: P, path: 'spec.apiKeyAuth', message: 'exactly one of the fields in [secretRef secretSelector disable] must be set (none is set)' },
  { name: 'apiKeyAuth with secretRef and secretSelector', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, secretSelector: { matchLabels: { app: 'a' } } } })], resource: P, path: 'spec.apiKeyAuth', message: 'exactly one of the fields in [secretRef secretSelector disable] must be set (secretRef and secretSelector are set)' },
  { name: 'apiKeyAuth null', docs: [gateway(), authPolicy({ apiKeyAuth: null })], resource: P, path: 'spec.apiKeyAuth', message: 'apiKeyAuth is empty (null): are its secretRef, secretSelector indented under it?' },
  { name: 'apiKeyAuth a key source with none of header, query, cookie (the CRD\'s CEL rule)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{}] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0]', message: 'at least one of the fields in [header query cookie] must be set' },
  { name: 'apiKeyAuth a key source header empty', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: '' }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0].header', message: 'must not be empty' },
  { name: 'apiKeyAuth a key source query over 256 characters', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ query: 'q'.repeat(257) }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0].query', message: 'may not be more than 256 characters' },
  { name: 'apiKeyAuth a key source with a line break in its header name (Envoy refuses it)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: 'x-api-key\r\nx-other' }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0].header', message: 'Invalid value: a header name with a NUL, CR or LF character: Envoy refuses it' },
  { name: 'apiKeyAuth a key source header that is not a header name never finds a key (a warning)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: 'x api key' }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0].header', message: '"x api key" is not an HTTP header name (RFC 7230 token): no request has such a header, so this key source never finds a key', severity: 'warning' },
  {
    name: 'apiKeyAuth a key source with header, query and cookie: Envoy reads the header only (a warning naming what is ignored)',
    docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: 'X-API-KEY', query: 'api_key', cookie: 'auth_token' }] } }), strSecret({ alice: 'k-1' }, 'keys')],
    resource: P,
    path: 'spec.apiKeyAuth.keySources[0]',
    message: 'header, query and cookie are set: Envoy\'s api_key_auth reads only the first of header, query, cookie that a key source sets, so this one reads header "X-API-KEY" and ignores query "api_key" and cookie "auth_token" (kgateway\'s docs describe a fallback within a source that Envoy does not do): give each its own keySources entry, in the order they are to be tried',
    severity: 'warning',
  },
  { name: 'apiKeyAuth a key source with query and cookie: Envoy reads the query only', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ cookie: 'auth_token', query: 'api_key' }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0]', message: 'query and cookie are set: Envoy\'s api_key_auth reads only the first of header, query, cookie that a key source sets, so this one reads query "api_key" and ignores cookie "auth_token"', severity: 'warning' },
  { name: 'apiKeyAuth clientIdHeader empty', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, clientIdHeader: '' } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.clientIdHeader', message: 'Invalid value: "": must not be empty' },
  { name: 'apiKeyAuth clientIdHeader not a header name', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, clientIdHeader: 'x client' } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.clientIdHeader', message: 'Invalid value: "x client": must be a valid HTTP header name' },
  { name: 'apiKeyAuth clientIdHeader that is also a key source header: removed with the credentials (a warning)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ header: 'X-Client' }], clientIdHeader: 'x-client' } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.clientIdHeader', message: 'x-client is also a key source\'s header: Envoy sets it to the client id, then removes it with the credentials', severity: 'warning' },
  { name: 'apiKeyAuth forwardCredential not a boolean', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, forwardCredential: 'yes' } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.forwardCredential', message: 'must be of type boolean' },
  { name: 'apiKeyAuth disable with other fields (a warning: they are ignored)', docs: [gateway(), authPolicy({ apiKeyAuth: { disable: {}, keySources: [{ header: 'x-api-key' }], clientIdHeader: 'x-client' } })], resource: P, path: 'spec.apiKeyAuth.disable', message: 'disable turns API key authentication off here: keySources, clientIdHeader ignored', severity: 'warning' },
  { name: 'apiKeyAuth secretSelector without matchLabels', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: {} } })], resource: P, path: 'spec.apiKeyAuth.secretSelector.matchLabels', message: 'Required value' },
  { name: 'apiKeyAuth secretSelector matchExpressions (a newer kgateway field): refused', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: { matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'Exists' }] } } })], resource: P, path: 'spec.apiKeyAuth.secretSelector.matchExpressions', message: 'matchExpressions is a field of kgateway versions newer than the one jwtgate follows' },
  { name: 'apiKeyAuth secretRef to a missing Secret', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } })], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'API key secret keys: Secret default/keys not found' },
  { name: 'apiKeyAuth secretRef to another namespace without a ReferenceGrant', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys', namespace: 'auth' } } }), strSecret({ alice: 'k-1' }, 'keys', 'auth')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'API key secret keys: missing reference grant: Secret auth/keys is in another namespace' },
  { name: 'apiKeyAuth secretRef to a kind other than a core Secret', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { kind: 'ConfigMap', name: 'keys' } } })], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'API key secret keys: internal error looking up secret default/keys: only a core Secret (group "", kind Secret) can hold the keys, not core/ConfigMap' },
  { name: 'apiKeyAuth secretRef to an invalid Secret', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } }), secret({ alice: 'not base64!' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'API key secret keys: Secret default/keys is invalid' },
  { name: 'apiKeyAuth a Secret without keys', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } }), strSecret({ alice: '' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'no valid API keys found in secrets: Secret default/keys has no data or only empty values' },
  { name: 'apiKeyAuth secretSelector that selects nothing (kgateway\'s message)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop', tier: 'api' } } } }), strSecret({ alice: 'k-1' }, 'keys', 'default', { app: 'shop' })], resource: P, path: 'spec.apiKeyAuth.secretSelector', message: 'failed to get secrets by selector: no Secrets matching "app=shop,tier=api" in namespace "default" or in namespaces with a ReferenceGrant allowing Secrets to be referenced from group "gateway.kgateway.dev" kind "TrafficPolicy" in namespace "default"' },
  { name: 'apiKeyAuth secretSelector {} does not select a Secret without labels', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: { matchLabels: {} } } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretSelector', message: 'no Secrets matching "" in namespace "default" or in namespaces with a ReferenceGrant allowing Secrets to be referenced from group "gateway.kgateway.dev" kind "TrafficPolicy" in namespace "default": a Secret without labels is never selected, even by matchLabels {}' },
  { name: 'apiKeyAuth secretSelector that selects only in another namespace without a ReferenceGrant', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }), strSecret({ alice: 'k-1' }, 'keys', 'auth', { app: 'shop' })], resource: P, path: 'spec.apiKeyAuth.secretSelector', message: 'no Secrets matching "app=shop" in namespace "default"' },
  { name: 'apiKeyAuth two clients sharing a key: kgateway\'s message, never the key', docs: [gateway(), authPolicy({ apiKeyAuth: { secretSelector: { matchLabels: { app: 'shop' } } } }), strSecret({ alice: 'k-1' }, 'a', 'default', { app: 'shop' }), strSecret({ bob: 'k-1' }, 'b', 'default', { app: 'shop' })], resource: P, path: 'spec.apiKeyAuth.secretSelector', message: 'duplicate API key value shared by client "alice" in secret default/a and client "bob" in secret default/b' },
  { name: 'apiKeyAuth a key ending with a non-ASCII character, which the front end cuts (a warning)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } }), secret({ alice: Buffer.from('clé').toString('base64') }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'the API key of client "alice" in Secret default/keys starts or ends with a non-ASCII character', severity: 'warning' },
  { name: 'apiKeyAuth a key whose bytes are not UTF-8', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } }), secret({ alice: Buffer.from([0x41, 0xff, 0x42]).toString('base64'), bob: Buffer.from('k-2').toString('base64') }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'the API key of client "alice" in secret default/keys is not UTF-8 text: Envoy\'s api_key_auth holds keys as strings' },
  { name: 'basicAuth a Secret key whose bytes are not UTF-8', docs: [gateway(), authPolicy({ basicAuth: { secretRef: { name: 'users' } } }), secret({ '.htpasswd': Buffer.concat([Buffer.from(ALICE + '\n'), Buffer.from([0xff])]).toString('base64') }, 'users')], resource: P, path: 'spec.basicAuth.secretRef', message: "basic auth: secret default/users key '.htpasswd' is not UTF-8 text" },
  { name: 'apiKeyAuth a key ending with a line break cannot come in a header (a warning)', docs: [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' } } }), secret({ alice: Buffer.from('k-1\n').toString('base64'), bob: Buffer.from('k-2').toString('base64') }, 'keys')], resource: P, path: 'spec.apiKeyAuth.secretRef', message: 'the API key of client "alice" in Secret default/keys ends with a line break (was it written with echo, without -n?): no request header can carry it', severity: 'warning' },
  { name: 'oauth2 is refused', docs: [jwtExt(), gateway(), gwPolicy({ oauth2: { extensionRef: { name: 'idp' } } })], resource: P, path: 'spec.oauth2', message: 'oauth2 is not supported by this jwtgate version' },
  // CORS: the HTTPRoute CORS filter and TrafficPolicy cors (Gateway API HTTPCORSFilter's rules).
  { name: 'cors: an origin that is not scheme://host[:port]', docs: [jwtExt(), gateway(), gwPolicy({ cors: { allowOrigins: ['example.com'] } })], resource: P, path: 'spec.cors.allowOrigins[0]', message: 'an origin is "*" or scheme://host[:port]' },
  { name: 'cors: an origin with a path never matches (a warning)', docs: [jwtExt(), gateway(), gwPolicy({ cors: { allowOrigins: ['https://example.com/'] } })], resource: P, path: 'spec.cors.allowOrigins[0]', message: 'has a path: a browser\'s Origin header never does', severity: 'warning' },
  { name: 'cors: * alongside other origins (the CRD\'s rule)', docs: [jwtExt(), gateway(), gwPolicy({ cors: { allowOrigins: ['*', 'https://a.example'] } })], resource: P, path: 'spec.cors.allowOrigins', message: "AllowOrigins cannot contain '*' alongside other origins" },
  { name: 'cors: a method outside the enum', docs: [jwtExt(), gateway(), gwPolicy({ cors: { allowMethods: ['get'] } })], resource: P, path: 'spec.cors.allowMethods[0]', message: 'Unsupported value: "get"' },
  { name: 'cors: a repeated header', docs: [jwtExt(), gateway(), gwPolicy({ cors: { allowHeaders: ['x-a', 'x-a'] } })], resource: P, path: 'spec.cors.allowHeaders[1]', message: 'Duplicate value: "x-a"' },
  { name: 'cors: maxAge under 1', docs: [jwtExt(), gateway(), gwPolicy({ cors: { maxAge: 0 } })], resource: P, path: 'spec.cors.maxAge', message: 'must be greater than or equal to 1' },
  { name: 'cors: disable with other fields (a warning: they are ignored)', docs: [jwtExt(), gateway(), gwPolicy({ cors: { disable: {}, allowOrigins: ['*'] } })], resource: P, path: 'spec.cors.disable', message: 'disable turns CORS off here: allowOrigins ignored', severity: 'warning' },
  { name: 'HTTPRoute CORS filter repeated (the CRD\'s rule)', docs: [gateway(), rule({ filters: [{ type: 'CORS', cors: { allowOrigins: ['*'] } }, { type: 'CORS', cors: { allowOrigins: ['*'] } }] })], resource: R, path: 'spec.rules[0].filters', message: 'CORS filter cannot be repeated' },
  { name: 'HTTPRoute CORS filter without its cors', docs: [gateway(), rule({ filters: [{ type: 'CORS' }] })], resource: R, path: 'spec.rules[0].filters[0].cors', message: 'Required value: filter.cors must be specified for CORS filter.type' },
  { name: 'jwtAuth null (extensionRef indented too little)', docs: [jwtExt(), gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwtAuth: null, extensionRef: { name: 'ext' } })], resource: P, path: 'spec.jwtAuth', message: 'jwtAuth is empty (null): is its extensionRef indented under it?' },
  { name: 'jwtAuth extensionRef name not a string: no "undefined" extension named', docs: [jwtExt(), gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwtAuth: { extensionRef: { name: 123 } } })], resource: P, path: 'spec.jwtAuth.extensionRef.name', message: 'must be of type string' },
  { name: 'jwtauth typo', docs: [jwtExt(), gateway(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }], jwtauth: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.jwtauth', message: 'did you mean "jwtAuth"? (kubectl\'s strict field validation refuses it)' },
  { name: 'empty targetRefs', docs: [jwtExt(), gwPolicy({ targetRefs: [] })], resource: P, path: 'spec.targetRefs', message: 'must have at least 1 item' },
  { name: 'too many targetRefs', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: many(17, () => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' })) })], resource: P, path: 'spec.targetRefs', message: 'must have at most 16 items' },
  { name: 'target kind Service', docs: [jwtExt(), gwPolicy({ targetRefs: [{ group: '', kind: 'Service', name: 'app' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'Unsupported value: "Service"' },
  { name: 'target GRPCRoute', docs: [jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'g' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'target GRPCRoute default/g: GRPCRoutes are not served by jwtgate (it serves HTTP/1.1: gRPC requests are not served, and requests for the route\'s hostnames are matched against the HTTPRoutes of the port), so this target attaches to nothing here, where kgateway attaches the policy to it', severity: 'warning' },
  { name: 'TrafficPolicy targetRef to a misspelt HTTPRoute name (apq for app) says did you mean "app" and that the route gets no policy from it (a warning, as kgateway accepts it)', docs: [gateway(), route(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'apq' }] })], resource: P, path: 'spec.targetRefs[0]', message: 'target HTTPRoute default/apq not found: kgateway silently ignores this policy; did you mean "app"? (HTTPRoute default/app gets no policy from it)', severity: 'warning' },
  { name: 'target in another namespace', docs: [jwtExt(), gateway({}, 'http', 'kgateway-system'), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'http' }], jwtAuth: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.targetRefs[0]', message: 'target Gateway kgateway-system/http not found in namespace default: kgateway silently ignores this policy', severity: 'warning' },
  { name: 'target listener not found', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', sectionName: 'https' }] })], resource: P, path: 'spec.targetRefs[0].sectionName', message: 'listener "https" not found in Gateway default/gw', severity: 'warning' },
  { name: 'target rule not found', docs: [jwtExt(), gateway(), route(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app', sectionName: 'other' }] })], resource: P, path: 'spec.targetRefs[0].sectionName', message: 'rule "other" not found in HTTPRoute default/app', severity: 'warning' },
  { name: 'a 100,000-character unknown key is shortened in the path and message (and costs no edit-distance table)', docs: [gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }], ['k'.repeat(100_000)]: 1 })], resource: G, path: `spec.${'k'.repeat(60)}…(100000 characters)`, message: `unknown field "${'k'.repeat(60)}…(100000 characters)" (kubectl's strict field validation refuses it)` },
  // These used to crash check/serve (a TypeError instead of the field's problem).
  { name: 'targetRef without kind', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', name: 'gw' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'Required value' },
  { name: 'targetSelector without kind', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', matchLabels: { app: 'x' } }] })], resource: P, path: 'spec.targetSelectors[0].kind', message: 'Required value' },
  { name: 'targetSelector matchLabels not a map', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: 'app=web' }] })], resource: P, path: 'spec.targetSelectors[0].matchLabels', message: 'must be a map of strings' },
  { name: 'targetSelector without matchLabels', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway' }] })], resource: P, path: 'spec.targetSelectors[0].matchLabels', message: 'Required value' },
  { name: 'targetSelectors without a match', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { app: 'x' } }] })], resource: P, path: 'spec.targetSelectors[0]', message: 'matchLabels select no Gateway', severity: 'warning' },
  // ----- Gateway
  { name: 'listener that is null (branch no test took)', docs: [gateway({ listeners: [null] })], resource: G, path: 'spec.listeners[0]', message: 'Invalid value: null' },
  { name: 'tls on a TCP listener: the API server refuses the Gateway (branch no test took)', docs: [gateway({ listeners: [{ name: 't', protocol: 'TCP', port: 9000, tls: { mode: 'Terminate' } }, { name: 'http', protocol: 'HTTP', port: 8080 }] })], resource: G, path: 'spec.listeners[0].tls', message: "Invalid value: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP'] (the API server refuses this Gateway): the Gateway is not served" },
  { name: 'tls on a UDP listener: the API server refuses the Gateway (branch no test took)', docs: [gateway({ listeners: [{ name: 'u', protocol: 'UDP', port: 9000, tls: { mode: 'Terminate' } }, { name: 'http', protocol: 'HTTP', port: 8080 }] })], resource: G, path: 'spec.listeners[0].tls', message: "Invalid value: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP'] (the API server refuses this Gateway): the Gateway is not served" },
  { name: 'listeners missing', docs: [gateway({ listeners: undefined })], resource: G, path: 'spec.listeners', message: 'Required value' },
  { name: 'listener protocol http (lower case) says protocol is case-sensitive: did you mean "HTTP"', docs: [listener({ protocol: 'http' })], resource: G, path: 'spec.listeners[0].protocol', message: 'protocol is case-sensitive: did you mean "HTTP"? (kgateway does not know protocol http): requests for its hostname on a port jwtgate serves get 500' },
  { name: 'HTTPS listener', docs: [listener({ protocol: 'HTTPS' })], resource: G, path: 'spec.listeners[0].protocol', message: 'protocol HTTPS is not supported by jwtgate' },
  { name: 'tls on an HTTP listener', docs: [listener({ tls: { certificateRefs: [{ name: 'cert' }] } })], resource: G, path: 'spec.listeners[0].tls', message: "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP'] (the API server refuses this Gateway): the Gateway is not served" },
  { name: 'TCP listener', docs: [listener({ protocol: 'TCP' })], resource: G, path: 'spec.listeners[0].protocol', message: 'protocol TCP is not supported' },
  { name: 'port out of range', docs: [listener({ port: 70000 })], resource: G, path: 'spec.listeners[0].port', message: 'must be less than or equal to 65535' },
  { name: 'port zero', docs: [listener({ port: 0 })], resource: G, path: 'spec.listeners[0].port', message: 'must be greater than or equal to 1' },
  { name: 'allowedRoutes Selector', docs: [listener({ allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { a: 'b' } } } } })], resource: G, path: 'spec.listeners[0].allowedRoutes.namespaces.from', message: 'allowedRoutes.namespaces.from: Selector is not supported' },
  { name: 'listener hostname uppercase', docs: [listener({ hostname: 'WWW.example.com' })], resource: G, path: 'spec.listeners[0].hostname', message: 'must be lowercase' },
  { name: 'listener hostname IP', docs: [listener({ hostname: '10.0.0.1' })], resource: G, path: 'spec.listeners[0].hostname', message: 'not an IP address' },
  { name: 'duplicate listener names', docs: [gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }, { name: 'http', protocol: 'HTTP', port: 8081 }] })], resource: G, path: 'spec.listeners[1].name', message: 'Duplicate value: "http"' },
  { name: 'two listeners on the same port and hostname', docs: [gateway({ listeners: [{ name: 'a', protocol: 'HTTP', port: 8080, hostname: 'x.com' }, { name: 'b', protocol: 'HTTP', port: 8080, hostname: 'x.com' }] })], resource: G, path: 'spec.listeners[1]', message: 'listener conflicts with spec.listeners[0]: same port 8080 and hostname x.com' },
  // ----- ListenerSet / XListenerSet: admitted listeners fail closed on their parent
  { name: 'ListenerSet listener admitted (Same)', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet()], resource: LS, path: 'spec.listeners[0]', message: 'ListenerSet default/ls listener api: ListenerSets are not supported by jwtgate: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500' },
  { name: 'XListenerSet listener admitted (All)', docs: [gateway({ allowedListeners: { namespaces: { from: 'All' } } }), listenerSet({}, 'ls', 'other', 'gateway.networking.x-k8s.io/v1alpha1', 'XListenerSet')], resource: 'XListenerSet/other/ls', path: 'spec.listeners[0]', message: 'ListenerSets are not supported by jwtgate: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500' },
  { name: 'ListenerSet admitted by a Selector jwtgate does not evaluate', docs: [gateway({ allowedListeners: { namespaces: { from: 'Selector', selector: { matchLabels: { a: 'b' } } } } }), listenerSet({}, 'ls', 'other')], resource: 'ListenerSet/other/ls', path: 'spec.listeners[0]', message: 'ListenerSets are not supported by jwtgate: requests for hostname api.example.com on port 8080' },
  { name: 'ListenerSet listener on a port the Gateway does not serve', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet({ port: 9090 })], resource: LS, path: 'spec.listeners[0]', message: 'not served (jwtgate does not listen on port 9090 for Gateway default/gw)' },
  { name: 'ListenerSet not admitted (allowedListeners unset)', docs: [gateway(), listenerSet()], resource: LS, path: 'spec.parentRef', message: 'Gateway default/gw does not admit this ListenerSet (its spec.allowedListeners.namespaces.from is None, the default): not attached, as kgateway does; ignored', severity: 'warning' },
  { name: 'ListenerSet from another namespace, parent allows Same', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet({}, 'ls', 'other')], resource: 'ListenerSet/other/ls', path: 'spec.parentRef', message: 'does not admit this ListenerSet (its spec.allowedListeners.namespaces.from is Same)', severity: 'warning' },
  { name: 'ListenerSet listener with the same port and hostname as a Gateway listener: the hostname is named (branch no test took)', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } }, listeners: [{ name: 'http', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }, { name: 'any', protocol: 'HTTP', port: 8080 }] }), listenerSet()], resource: LS, path: 'spec.listeners[0]', message: 'listener api has the same port 8080 and hostname api.example.com as Gateway default/gw listener "http": Conflicted, not attached (the Gateway\'s own listener wins, as in kgateway); ignored', severity: 'warning' },
  { name: 'ListenerSet listener on a port two other Gateways serve: both are named (branch no test took)', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), gateway({ listeners: [{ name: 'h', protocol: 'HTTP', port: 9000 }] }, 'g2'), gateway({ listeners: [{ name: 'h', protocol: 'HTTP', port: 9000 }] }, 'g3'), listenerSet({ port: 9000 })], resource: LS, path: 'spec.listeners[0]', message: 'ListenerSet default/ls listener api: ListenerSets are not supported by jwtgate: not served (jwtgate does not listen on port 9000 for Gateway default/gw): requests on that port are served by the listeners of Gateways default/g2, default/g3 there, by hostname; its routes get no traffic' },
  { name: 'two Gateways with a listener of the same port and hostname: the younger is warned, naming the hostname (branch no test took)', docs: [gateway({ listeners: [{ name: 'a', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }] }, 'g1'), gateway({ listeners: [{ name: 'b', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }] }, 'g2')], resource: 'Gateway/default/g2', path: 'spec.listeners[0]', message: 'listener "b" has the same port 8080 and hostname api.example.com as Gateway default/g1 listener "a": jwtgate serves one socket per port, so hosts both serve go to the older Gateway\'s listener', severity: 'warning' },
  { name: 'a Gateway targetSelector whose sectionName no selected Gateway has: one warning naming the listener and the Gateway (branch no test took)', docs: [{ ...gateway(), metadata: md('gw', 'default', { labels: { tier: 'edge' } }) }, route(), jwtExt(), policy({ targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { tier: 'edge' }, sectionName: 'nope' }], jwtAuth: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.targetSelectors[0].sectionName', message: 'listener "nope" is in none of the 1 Gateway these matchLabels select (default/gw): this selector attaches nothing', severity: 'warning' },
  { name: 'an HTTPRoute targetSelector whose sectionName no selected route has: one warning naming the rule and the routes (branch no test took)', docs: [gateway(), { ...route(), metadata: md('app', 'default', { labels: { team: 'shop' } }) }, { ...route({}, 'app2'), metadata: md('app2', 'default', { labels: { team: 'shop' } }) }, jwtExt(), policy({ targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', matchLabels: { team: 'shop' }, sectionName: 'nope' }], jwtAuth: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.targetSelectors[0].sectionName', message: 'rule "nope" is in none of the 2 HTTPRoutes these matchLabels select (default/app, default/app2): this selector attaches nothing', severity: 'warning' },
  { name: 'ListenerSet listener conflicting with the Gateway\'s', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet({ hostname: undefined })], resource: LS, path: 'spec.listeners[0]', message: 'same port 8080 and no hostname as Gateway default/gw listener "http": Conflicted, not attached', severity: 'warning' },
  // A TrafficPolicy or HTTPRoute naming a ListenerSet: what its listeners really get (kgateway attaches both).
  { name: 'TrafficPolicy targeting an admitted ListenerSet on a port the Gateway serves', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet(), jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'target ListenerSet default/ls: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/ls: listener api: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500', severity: 'warning' },
  { name: 'TrafficPolicy targeting an XListenerSet on a port no Gateway serves', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet({ port: 8081 }, 'ls', 'default', 'gateway.networking.x-k8s.io/v1alpha1', 'XListenerSet'), jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.x-k8s.io', kind: 'XListenerSet', name: 'ls' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'what its requests get: XListenerSet default/ls: listener api: not served (jwtgate does not listen on port 8081 for Gateway default/gw): connection refused, as no Gateway listens on that port', severity: 'warning' },
  { name: 'ListenerSet listener on a port another Gateway serves', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } }, listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 }] }), gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 9090 }] }, 'other'), listenerSet({ port: 9090 })], resource: LS, path: 'spec.listeners[0]', message: 'not served (jwtgate does not listen on port 9090 for Gateway default/gw): requests on that port are served by the listeners of Gateway default/other there, by hostname; its routes get no traffic' },
  { name: 'HTTPRoute parentRef to a ListenerSet on a port the Gateway does not serve', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet({ port: 8081 }), route({ parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls' }] })], resource: R, path: 'spec.parentRefs[0]', message: 'parent gateway.networking.k8s.io/ListenerSet is not supported by jwtgate (only Gateway): this parentRef is ignored, as ListenerSets are not served; what requests for it get: ListenerSet default/ls: listener api: not served (jwtgate does not listen on port 8081 for Gateway default/gw): connection refused, as no Gateway listens on that port', severity: 'warning' },
  { name: 'HTTPRoute parentRef to a ListenerSet listener on a port the Gateway serves', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet(), route({ parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls', sectionName: 'api' }] })], resource: R, path: 'spec.parentRefs[0]', message: 'what requests for it get: ListenerSet default/ls: listener api: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500', severity: 'warning' },
  { name: 'allowedListeners from unknown value', docs: [gateway({ allowedListeners: { namespaces: { from: 'Everyone' } } })], resource: G, path: 'spec.allowedListeners.namespaces.from', message: 'Unsupported value' },
  // ----- ListenerPolicy / HTTPListenerPolicy: fields that deny or strip leave the Gateway unserved
  { name: 'ListenerPolicy rbac', docs: [gateway(), listenerPolicy({ default: { rbac: { action: 'Allow' } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.rbac', message: 'rbac (connection access control) is not applied by jwtgate: every request for the hosts of the Gateways this ListenerPolicy targets answers 500' },
  { name: 'ListenerPolicy rbac refuses its Gateway', docs: [gateway(), listenerPolicy({ default: { rbac: { action: 'Allow' } } })], resource: G, path: 'spec', message: 'ListenerPolicy default/lp sets spec.default.rbac, which jwtgate does not apply: every request for the Gateway\'s hosts answers 500' },
  // A value of the wrong type: the API server refuses the ListenerPolicy (it does not exist), so its Gateway is served without it.
  { name: 'ListenerPolicy default not an object', docs: [gateway(), listenerPolicy({ default: 'x' })], resource: 'ListenerPolicy/default/lp', path: 'spec.default', message: 'Invalid value: string "x": must be an object' },
  { name: 'ListenerPolicy default.httpSettings not an object', docs: [gateway(), listenerPolicy({ default: { httpSettings: 5 } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.httpSettings', message: 'Invalid value: number 5: must be an object' },
  { name: 'ListenerPolicy perPort item not an object', docs: [gateway(), listenerPolicy({ perPort: ['y'] })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort[0]', message: 'Invalid value: string "y": must be an object' },
  { name: 'ListenerPolicy perPort listener not an object', docs: [gateway(), listenerPolicy({ perPort: [{ port: 8080, listener: ['z'] }] })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort[0].listener', message: 'Invalid value: a list: must be an object' },
  // earlyRequestHeaderModifier is applied; one that cannot be served as written fails its Gateways closed.
  { name: 'ListenerPolicy perPort earlyRequestHeaderModifier with an Envoy command operator', docs: [gateway(), listenerPolicy({ perPort: [{ port: 8080, listener: { httpSettings: { earlyRequestHeaderModifier: { set: [{ name: 'x-ip', value: '%DOWNSTREAM_REMOTE_ADDRESS%' }] } } } }] })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort[0].listener.httpSettings.earlyRequestHeaderModifier.set[0].value', message: 'Invalid value: %DOWNSTREAM_REMOTE_ADDRESS% is not evaluated by jwtgate: the client\'s port is not known here' },
  { name: 'ListenerPolicy earlyRequestHeaderModifier that cannot be served: its Gateway answers 500, and says why', docs: [gateway(), listenerPolicy({ default: { httpSettings: { earlyRequestHeaderModifier: { remove: ['host'] } } } })], resource: G, path: 'spec', message: 'ListenerPolicy default/lp sets spec.default.httpSettings.earlyRequestHeaderModifier (as written), which jwtgate does not apply: every request for the Gateway\'s hosts answers 500' },
  { name: 'HTTPListenerPolicy earlyRequestHeaderModifier with a bad name', docs: [gateway(), { ...listenerPolicy({ earlyRequestHeaderModifier: { remove: ['x user'] } }), kind: 'HTTPListenerPolicy' }], resource: 'HTTPListenerPolicy/default/lp', path: 'spec.earlyRequestHeaderModifier.remove[0]', message: 'must be a valid HTTP header name' },
  { name: 'ListenerPolicy earlyRequestHeaderModifier for one listener (sectionName): its Gateway fails closed', docs: [gateway(), listenerPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', sectionName: 'http' }], default: { httpSettings: { earlyRequestHeaderModifier: { remove: ['x-user-id'] } } } })], resource: G, path: 'spec', message: 'earlyRequestHeaderModifier with a target sectionName (jwtgate applies early header rules per Gateway and port)' },
  { name: 'ListenerPolicy earlyRequestHeaderModifier outside httpSettings (not a ListenerConfig field) fails closed', docs: [gateway(), listenerPolicy({ default: { earlyRequestHeaderModifier: { remove: ['x-user-id'] } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.earlyRequestHeaderModifier', message: 'earlyRequestHeaderModifier (a field jwtgate does not know, which could deny or strip) is not applied by jwtgate' },
  { name: 'ListenerPolicy perPort not a list: the API server refuses the policy', docs: [gateway(), listenerPolicy({ perPort: {} })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort', message: 'Invalid value: an object: must be a list' },
  { name: 'header filter: a value that is not a string is not shown', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-pin', value: 86753091234567 }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value', message: 'Invalid value (a number, not shown): must be of type string' },
  { name: 'ListenerPolicy perPort without a port', docs: [gateway(), listenerPolicy({ perPort: [{ listener: { httpSettings: { earlyRequestHeaderModifier: { remove: ['x-user-id'] } } } }] })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort[0].port', message: 'must be a port number (1-65535)' },
  { name: 'ListenerPolicy perPort port twice', docs: [gateway(), listenerPolicy({ perPort: [{ port: 8080, listener: {} }, { port: 8080, listener: {} }] })], resource: 'ListenerPolicy/default/lp', path: 'spec.perPort[1].port', message: 'Duplicate value: 8080' },
  { name: 'ListenerPolicy unknown field fails closed', docs: [gateway(), listenerPolicy({ default: { httpSettings: { ipAllowList: ['10.0.0.0/8'] } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.httpSettings.ipAllowList', message: 'ipAllowList (a field jwtgate does not know, which could deny or strip) is not applied by jwtgate' },
  { name: 'ListenerPolicy request-id and XFF settings are tuning (they refused the Gateway)', docs: [gateway(), listenerPolicy({ default: { httpSettings: { generateRequestId: false, preserveExternalRequestId: true, xffTrustedCIDRs: ['10.0.0.0/8'], skipXFFAppend: true } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.httpSettings.xffTrustedCIDRs', message: 'xffTrustedCIDRs is ignored: jwtgate does not apply ListenerPolicy settings', severity: 'warning' },
  { name: 'ListenerPolicy clientCertificateValidation is tuning (HTTPS listeners are not served)', docs: [gateway(), listenerPolicy({ default: { clientCertificateValidation: { caCertificateRefs: [{ name: 'ca' }] } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.clientCertificateValidation', message: 'clientCertificateValidation is ignored', severity: 'warning' },
  { name: 'a BackendConfigPolicy with tls selecting Services by label: every Service backendRef of its namespace does not resolve (no Service labels are read)', docs: [gateway(), rule({}), { ...bcp({ wellKnownCACertificates: 'System', sni: 'app.internal' }), spec: { targetSelectors: [{ group: '', kind: 'Service', matchLabels: { app: 'x' } }], tls: { wellKnownCACertificates: 'System', sni: 'app.internal' } } }], resource: R, path: 'spec.rules[0].backendRefs[0].name', message: 'Service default/app is to be reached over TLS (BackendConfigPolicy default/idp-tls sets tls for Services its targetSelectors select' },
  { name: 'ListenerPolicy tuning field', docs: [gateway(), listenerPolicy({ default: { proxyProtocol: {}, httpSettings: { streamIdleTimeout: '30s' } } })], resource: 'ListenerPolicy/default/lp', path: 'spec.default.httpSettings.streamIdleTimeout', message: 'streamIdleTimeout is ignored: jwtgate does not apply ListenerPolicy settings', severity: 'warning' },
  // ----- HTTPRoute
  { name: 'rule matches not a list (branch no test took)', docs: [gateway(), rule({ matches: 'x' })], resource: R, path: 'spec.rules[0].matches', message: 'Invalid value: must be a list' },
  { name: 'rule filters not a list (branch no test took)', docs: [gateway(), rule({ filters: 'x' })], resource: R, path: 'spec.rules[0].filters', message: 'Invalid value: must be a list' },
  { name: 'rule backendRefs not a list (branch no test took)', docs: [gateway(), rule({ backendRefs: 'x' })], resource: R, path: 'spec.rules[0].backendRefs', message: 'Invalid value: must be a list' },
  { name: 'ExtensionRef filter to a core-group kind is named core/ConfigMap (branch no test took)', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: '', kind: 'ConfigMap', name: 'x' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'filter type ExtensionRef to core/ConfigMap not supported by jwtgate (only gateway.kgateway.dev/TrafficPolicy and DirectResponse)' },
  { name: 'backendRef to a core-group kind other than Service is named core/ConfigMap (branch no test took)', docs: [gateway(), rule({ backendRefs: [{ group: '', kind: 'ConfigMap', name: 'x' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef core/ConfigMap not supported by jwtgate (only Service, or gateway.kgateway.dev Backend): requests drawn to it get 500' },
  { name: 'route-weight annotation', docs: [gateway(), { ...route(), metadata: md('app', 'default', { annotations: { 'kgateway.dev/route-weight': '10' } }) }], resource: R, path: 'metadata.annotations.kgateway.dev/route-weight', message: 'kgateway.dev/route-weight is ignored by jwtgate', severity: 'warning' },
  { name: 'invalid path regex', docs: [gateway(), rule({ matches: [{ path: { type: 'RegularExpression', value: '/api/(' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: 'invalid regular expression "/api/("' },
  { name: 'lookahead regex (not RE2)', docs: [gateway(), rule({ matches: [{ path: { type: 'RegularExpression', value: '/(?!admin).*' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: 'not supported by RE2' },
  { name: 'relative path', docs: [gateway(), rule({ matches: [{ path: { type: 'PathPrefix', value: 'api' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: "must be an absolute path and start with '/'" },
  { name: 'path type typo', docs: [gateway(), rule({ matches: [{ path: { type: 'Prefix', value: '/api' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.type', message: 'Unsupported value: "Prefix"' },
  { name: 'unknown method', docs: [gateway(), rule({ matches: [{ method: 'FETCH' }] })], resource: R, path: 'spec.rules[0].matches[0].method', message: 'Unsupported value: "FETCH"' },
  { name: 'header match regex on a credential header: the pattern is not quoted', docs: [gateway(), rule({ matches: [{ headers: [{ type: 'RegularExpression', name: 'authorization', value: '^Basic QURNSU46U0VDUkVU(' }] }] })], resource: R, path: 'spec.rules[0].matches[0].headers[0].value', message: 'invalid regular expression (RE2 syntax, as Envoy reads it); not shown: a value matched against authorization may be a credential' },
  { name: 'header match regex invalid', docs: [gateway(), rule({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-v', value: '[' }] }] })], resource: R, path: 'spec.rules[0].matches[0].headers[0].value', message: 'invalid regular expression' },
  { name: 'duplicate header match', docs: [gateway(), rule({ matches: [{ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }] })], resource: R, path: 'spec.rules[0].matches[0].headers[1].name', message: 'Duplicate value' },
  { name: 'backendRef filters (kgateway applies them per backend; skipped, a JWT policy among them would not be)', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: 'jwt' } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'are not supported by jwtgate, and a filter may not be skipped: the rule answers 500' },
  { name: 'backendRef to kind Backnd says did you mean Backend', docs: [gateway(), rule({ backendRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backnd', name: 'x' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef gateway.kgateway.dev/Backnd not supported by jwtgate (only Service, or gateway.kgateway.dev Backend) (did you mean Backend?): requests drawn to it get 500' },
  { name: 'backendRef to group gateway.kgateway.io says did you mean group gateway.kgateway.dev', docs: [gateway(), rule({ backendRefs: [{ group: 'gateway.kgateway.io', kind: 'Backend', name: 'x' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef gateway.kgateway.io/Backend not supported by jwtgate (only Service, or gateway.kgateway.dev Backend) (did you mean group gateway.kgateway.dev?): requests drawn to it get 500' },
  { name: 'backendRef to kind Backend without a group says did you mean group gateway.kgateway.dev', docs: [gateway(), rule({ backendRefs: [{ kind: 'Backend', name: 'x' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef core/Backend not supported by jwtgate (only Service, or gateway.kgateway.dev Backend) (did you mean group gateway.kgateway.dev?)' },
  { name: 'backendRef to kind service says did you mean Service', docs: [gateway(), rule({ backendRefs: [{ kind: 'service', name: 'x', port: 80 }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef core/service not supported by jwtgate (only Service, or gateway.kgateway.dev Backend) (did you mean Service?)' },
  { name: 'ExtensionRef filter to kind TraficPolicy says did you mean TrafficPolicy', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TraficPolicy', name: 'x' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'filter type ExtensionRef to gateway.kgateway.dev/TraficPolicy not supported by jwtgate (only gateway.kgateway.dev/TrafficPolicy and DirectResponse) (did you mean TrafficPolicy?)' },
  { name: 'ExtensionRef filter to group gateway.kgateway.io says did you mean group gateway.kgateway.dev', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.io', kind: 'DirectResponse', name: 'x' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: '(did you mean group gateway.kgateway.dev?)' },
  { name: 'TrafficPolicy targetRefs[].namespace says policy targets have no namespace field and names the namespace the policy must be in', docs: [gateway(), route(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app', namespace: 'apps' }] }, 'pol', 'default')], resource: P, path: 'spec.targetRefs[0].namespace', message: 'unknown field "namespace": policy targets have no namespace field (kubectl\'s strict field validation refuses it): a policy attaches only to targets in its own namespace, so to target HTTPRoute apps/app, put the policy in namespace apps (metadata.namespace: apps)' },
  { name: 'TrafficPolicy targetRef kind HTTPRoutes says did you mean HTTPRoute', docs: [gateway(), route(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoutes', name: 'app' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'Unsupported value: "HTTPRoutes": supported target kinds: Gateway, HTTPRoute, GRPCRoute, *ListenerSet (did you mean HTTPRoute?)' },
  { name: 'TrafficPolicy targetRef group misspelt says did you mean group gateway.networking.k8s.io', docs: [gateway(), route(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.oi', kind: 'Gateway', name: 'gw' }] })], resource: P, path: 'spec.targetRefs[0].group', message: 'so this target is ignored (did you mean group gateway.networking.k8s.io?)', severity: 'warning' },
  { name: 'HTTPRoute parentRef kind Gatewy says did you mean Gateway', docs: [gateway(), route({ parentRefs: [{ kind: 'Gatewy', name: 'gw' }, { name: 'gw' }] })], resource: R, path: 'spec.parentRefs[0]', message: 'parent gateway.networking.k8s.io/Gatewy is not supported by jwtgate (only Gateway): this parentRef is ignored (did you mean Gateway?)', severity: 'warning' },
  { name: 'route delegation (a backendRef to an HTTPRoute) is named as such', docs: [gateway(), rule({ backendRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'child' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'backendRef gateway.networking.k8s.io/HTTPRoute not supported by jwtgate (only Service, or gateway.kgateway.dev Backend) (route delegation, a backendRef to HTTPRoutes, is not supported by jwtgate): requests drawn to it get 500' },
  // RequestHeaderModifier / ResponseHeaderModifier (Gateway API HTTPHeaderFilter): the CRD's limits, Envoy's refusals, jwtgate's framing.
  { name: 'header filter: a value with an Envoy command operator jwtgate does not evaluate', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-client', value: 'route=%ROUTE_NAME%' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.add[0].value', message: '%ROUTE_NAME% is an Envoy command operator jwtgate does not evaluate (it evaluates %REQ(name)%' },
  { name: 'header filter: %REQ with two alternatives (Envoy refuses it)', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-client', value: '%REQ(a?b?c)%' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.add[0].value', message: '%REQ(…)% names more than one alternative header' },
  { name: 'header filter: %UPSTREAM_HOST% in a response rule', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-up', value: '%UPSTREAM_HOST%' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier.add[0].value', message: '%UPSTREAM_HOST% is not evaluated by jwtgate in a response rule' },
  { name: 'header filter: %START_TIME% with a specifier jwtgate does not write', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-t', value: '%START_TIME(%c)%' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier.add[0].value', message: '%START_TIME(…)% has a format with %c, which jwtgate does not write' },
  { name: 'header filter: a lone % (Envoy refuses the value)', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-load', value: '50%' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier.set[0].value', message: 'a % at position 2 starts no Envoy command operator' },
  { name: 'header filter: a control character in a value', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: 'a\r\nx-b: c' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value', message: 'may not hold control characters' },
  { name: 'header filter: host (Envoy refuses to modify it)', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['HOST'] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.remove[0]', message: 'may not change the host header here: Envoy refuses it' },
  { name: 'header filter: content-length (jwtgate frames messages)', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'Content-Length', value: '0' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier.set[0].name', message: 'jwtgate frames each message itself' },
  { name: 'header filter: date on responses has no effect (a warning; the rule is dropped)', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['date'] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier.remove[0]', message: 'a ResponseHeaderModifier rule on date has no effect', severity: 'warning' },
  { name: 'header filter: a name that is not a token', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x a', value: 'b' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.add[0].name', message: 'must be a valid HTTP header name' },
  { name: 'header filter: the same name twice in set (listMapKey)', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }, { name: 'x-a', value: '2' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.set[1].name', message: 'Duplicate value: "x-a"' },
  { name: 'header filter: 17 removals', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: Array.from({ length: 17 }, (_, i) => `x-${i}`) } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.remove', message: 'Too many: 17: must have at most 16 items' },
  { name: 'header filter: an empty value', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '' }] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value', message: 'at least 1' },
  { name: 'header filter: the type without its field', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier' }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier', message: 'Required value: filter.responseHeaderModifier must be specified for ResponseHeaderModifier filter.type' },
  { name: 'header filter: another type\'s field', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {}, responseHeaderModifier: { remove: ['x'] } }] })], resource: R, path: 'spec.rules[0].filters[0].responseHeaderModifier', message: 'Forbidden: filter.responseHeaderModifier must be nil if the filter.type is not ResponseHeaderModifier' },
  { name: 'header filter: repeated', docs: [gateway(), rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: {} }, { type: 'ResponseHeaderModifier', responseHeaderModifier: {} }] })], resource: R, path: 'spec.rules[0].filters', message: 'ResponseHeaderModifier filter cannot be repeated' },
  { name: 'header filter: an unknown field', docs: [gateway(), rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { sett: [] } }] })], resource: R, path: 'spec.rules[0].filters[0].requestHeaderModifier.sett', message: 'did you mean "set"' },
  // TrafficPolicy headerModifiers (kgateway shared.HeaderModifiers).
  { name: 'headerModifiers: kgateway\'s value pattern (a leading space)', docs: [gateway(), gwPolicy({ headerModifiers: { request: { set: [{ name: 'x-a', value: ' a' }] } } })], resource: P, path: 'spec.headerModifiers.request.set[0].value', message: 'must be printable ASCII' },
  { name: 'headerModifiers: both value and secretRef (the CRD\'s ExactlyOneOf)', docs: [gateway(), gwPolicy({ headerModifiers: { request: { set: [{ name: 'x-api-key', value: 'v', secretRef: { name: 's' } }] } } })], resource: P, path: 'spec.headerModifiers.request.set[0]', message: 'exactly one of the fields in [value secretRef] must be set (value and secretRef are set)' },
  { name: 'headerModifiers: an inline value without a name (the CRD\'s CEL rule)', docs: [gateway(), gwPolicy({ headerModifiers: { response: { add: [{ value: 'v' }] } } })], resource: P, path: 'spec.headerModifiers.response.add[0]', message: 'name is required when using an inline value' },
  { name: 'headerModifiers: a secretRef key kgateway\'s pattern refuses', docs: [gateway(), gwPolicy({ headerModifiers: { request: { set: [{ name: 'x-k', secretRef: { name: 's', key: 'a/b' } }] } } })], resource: P, path: 'spec.headerModifiers.request.set[0].secretRef.key', message: 'must be a Secret data key' },
  { name: 'headerModifiers: a secretRef key naming a header jwtgate sets itself', docs: [gateway(), gwPolicy({ headerModifiers: { request: { set: [{ secretRef: { name: 's', key: 'content-length' } }] } } }), { apiVersion: 'v1', kind: 'Secret', metadata: md('s', 'default'), stringData: { 'content-length': '5' } }], resource: P, path: 'spec.headerModifiers.request.set[0].secretRef', message: 'the header content-length (key "content-length" of Secret default/s) may not be changed here' },
  { name: 'headerModifiers: filterStage', docs: [gateway(), gwPolicy({ headerModifiers: { filterStage: { stage: 'AuthN' }, request: { remove: ['x'] } } })], resource: P, path: 'spec.headerModifiers.filterStage', message: 'filterStage is not supported by this jwtgate version' },
  { name: 'headerModifiers: host', docs: [gateway(), gwPolicy({ headerModifiers: { request: { remove: ['host'] } } })], resource: P, path: 'spec.headerModifiers.request.remove[0]', message: 'headerModifiers.request may not change the host header' },
  { name: 'headerModifiers: a typo', docs: [gateway(), gwPolicy({ headerModifiers: { requests: {} } })], resource: P, path: 'spec.headerModifiers.requests', message: 'did you mean "request"' },
  // RequestRedirect: the CRD's rules.
  { name: 'RequestRedirect statusCode 304', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 304 } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.statusCode', message: 'Unsupported value: 304: supported values: 301, 302, 303, 307, 308' },
  { name: 'RequestRedirect scheme ftp', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'ftp' } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.scheme', message: 'Unsupported value: "ftp"' },
  { name: 'RequestRedirect path type without its field', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replacePrefixMatch: '/x' } } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.path.replaceFullPath', message: "replaceFullPath must be specified when type is set to 'ReplaceFullPath'" },
  { name: 'RequestRedirect hostname with a wildcard', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: '*.example.com' } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.hostname', message: 'Invalid value' },
  { name: 'RequestRedirect path with CR LF (it would split the answer)', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\r\nSet-Cookie: x=1' } } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.path.replaceFullPath', message: 'may not hold control characters' },
  { name: 'RequestRedirect ReplacePrefixMatch with an empty matches list', docs: [gateway(), rule({ matches: [], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' } } }] })], resource: R, path: 'spec.rules[0].filters[0].requestRedirect.path', message: 'exactly one PathPrefix match must be specified' },
  { name: 'URLRewrite ReplacePrefixMatch on an Exact match', docs: [gateway(), rule({ matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] })], resource: R, path: 'spec.rules[0].filters[0].urlRewrite.path', message: 'When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified' },
  { name: 'URLRewrite with a RequestRedirect', docs: [gateway(), rule({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.example.com' } }, { type: 'RequestRedirect', requestRedirect: {} }] })], resource: R, path: 'spec.rules[0].filters', message: 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both' },
  { name: 'URLRewrite hostname with a port', docs: [gateway(), rule({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.example.com:8080' } }] })], resource: R, path: 'spec.rules[0].filters[0].urlRewrite.hostname', message: 'Invalid value' },
  { name: 'URLRewrite path with a control character', docs: [gateway(), rule({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\u0000' } } }] })], resource: R, path: 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', message: 'may not hold control characters' },
  { name: 'URLRewrite path that does not start with /', docs: [gateway(), rule({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: 'abc' } } }] })], resource: R, path: 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', message: 'a rewritten path must start with "/"' },
  { name: 'URLRewrite path with a space', docs: [gateway(), rule({ matches: [{ path: { type: 'PathPrefix', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/a b' } } }] })], resource: R, path: 'spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch', message: 'a rewritten path may not hold a space' },
  { name: 'RequestRedirect repeated', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'RequestRedirect', requestRedirect: {} }] })], resource: R, path: 'spec.rules[0].filters', message: 'RequestRedirect filter cannot be repeated' },
  { name: 'RequestRedirect with backendRefs: a warning, the redirect answers', docs: [gateway(), rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] })], resource: R, path: 'spec.rules[0].backendRefs', message: 'backendRefs are not used on a rule with a RequestRedirect filter', severity: 'warning' },
  // RequestMirror: the CRD's rules make the rule invalid (500); a mirror kgateway drops is warned about.
  { name: 'RequestMirror with percent and fraction', docs: [gateway(), rule({ filters: [mirror({ percent: 10, fraction: { numerator: 1 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror', message: 'Invalid value: Only one of percent or fraction may be specified in HTTPRequestMirrorFilter' },
  { name: 'RequestMirror fraction numerator over its denominator', docs: [gateway(), rule({ filters: [mirror({ fraction: { numerator: 4, denominator: 3 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.fraction', message: 'Invalid value: numerator must be less than or equal to denominator' },
  { name: 'RequestMirror fraction numerator over the default denominator 100', docs: [gateway(), rule({ filters: [mirror({ fraction: { numerator: 101 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.fraction', message: 'numerator must be less than or equal to denominator' },
  { name: 'RequestMirror fraction denominator 0', docs: [gateway(), rule({ filters: [mirror({ fraction: { numerator: 0, denominator: 0 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.fraction.denominator', message: 'Invalid value: 0: must be greater than or equal to 1' },
  { name: 'RequestMirror fraction without numerator', docs: [gateway(), rule({ filters: [mirror({ fraction: { denominator: 10 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.fraction.numerator', message: 'Required value' },
  { name: 'RequestMirror percent 101', docs: [gateway(), rule({ filters: [mirror({ percent: 101 })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.percent', message: 'Invalid value: 101: must be less than or equal to 100' },
  { name: 'RequestMirror percent -1', docs: [gateway(), rule({ filters: [mirror({ percent: -1 })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.percent', message: 'must be greater than or equal to 0' },
  { name: 'RequestMirror Service backendRef without port', docs: [gateway(), rule({ filters: [mirror({ backendRef: { name: 'shadow' } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.backendRef.port', message: 'Required value: must have port for Service reference' },
  { name: 'RequestMirror without backendRef', docs: [gateway(), rule({ filters: [{ type: 'RequestMirror', requestMirror: { percent: 10 } }] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.backendRef', message: 'Required value' },
  { name: 'RequestMirror backendRef with a weight (not a BackendObjectReference field)', docs: [gateway(), rule({ filters: [mirror({ backendRef: { name: 'shadow', port: 80, weight: 1 } })] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror.backendRef.weight', message: 'unknown field "weight"' },
  { name: 'RequestMirror type without requestMirror', docs: [gateway(), rule({ filters: [{ type: 'RequestMirror' }] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror', message: 'Required value: filter.requestMirror must be specified for RequestMirror filter.type' },
  { name: 'requestMirror under another filter type', docs: [gateway(), rule({ filters: [{ type: 'URLRewrite', urlRewrite: {}, requestMirror: { backendRef: { name: 'shadow', port: 80 } } }] })], resource: R, path: 'spec.rules[0].filters[0].requestMirror', message: 'Forbidden: filter.requestMirror must be nil if the filter.type is not RequestMirror' },
  { name: 'RequestMirror to a Backend that does not exist: dropped with a warning', docs: [gateway(), rule({ filters: [mirror({ backendRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'nope' } })] })], resource: R, path: 'spec.rules[0].filters[0]', message: 'RequestMirror is dropped, as kgateway drops it: requestMirror.backendRef.name: Backend default/nope not found. The rule serves without it: no copy of its requests is sent', severity: 'warning' },
  { name: 'RequestMirror to another namespace without ReferenceGrant: dropped with a warning', docs: [gateway(), rule({ filters: [mirror({ backendRef: { name: 'shadow', namespace: 'other', port: 80 } })] })], resource: R, path: 'spec.rules[0].filters[0]', message: 'RequestMirror is dropped, as kgateway drops it: requestMirror.backendRef.namespace: backendRef to Service other/shadow is not permitted: no ReferenceGrant in namespace other allows HTTPRoutes from namespace default', severity: 'warning' },
  { name: 'RequestMirror to a Backend named with a port: dropped with a warning (kgateway BackendPortNotAllowedError)', docs: [gateway(), backend({ static: { hosts: [{ host: 'shadow.example.com', port: 80 }] } }), rule({ filters: [mirror({ backendRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'be', port: 80 } })] })], resource: R, path: 'spec.rules[0].filters[0]', message: 'requestMirror.backendRef.port: a gateway.kgateway.dev Backend is named without a port (its hosts carry theirs): port 80 is not allowed', severity: 'warning' },
  { name: 'RequestMirror to an unsupported kind: dropped with a warning', docs: [gateway(), rule({ filters: [mirror({ backendRef: { group: 'example.com', kind: 'Bucket', name: 'b' } })] })], resource: R, path: 'spec.rules[0].filters[0]', message: 'requestMirror.backendRef.kind: backendRef example.com/Bucket not supported by jwtgate', severity: 'warning' },
  { name: 'RequestMirror on a RequestRedirect rule: dropped with a warning', docs: [gateway(), route({ rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, mirror()] }] })], resource: R, path: 'spec.rules[0].filters[1]', message: 'RequestMirror is dropped on a rule with a RequestRedirect filter', severity: 'warning' },
  { name: 'RequestMirror in a backendRef\'s filters: ignored with a warning, as kgateway ignores it', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [mirror()] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters[0]', message: 'RequestMirror in backendRefs[].filters is ignored, as kgateway ignores it', severity: 'warning' },
  { name: 'RequestMirror in a backendRef\'s filters is checked as the CRD checks it', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [mirror({ percent: 101 })] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters[0].requestMirror.percent', message: 'must be less than or equal to 100' },
  { name: 'a backendRef\'s RequestHeaderModifier repeated', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: 'b' }] } }, { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-b', value: 'c' }] } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'Invalid value: RequestHeaderModifier filter cannot be repeated' },
  { name: 'a backendRef\'s RequestRedirect repeated (HTTPBackendRef.filters has the rule filters\' CRD rules)', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, { type: 'RequestRedirect', requestRedirect: { port: 8443 } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'Invalid value: RequestRedirect filter cannot be repeated' },
  { name: 'a backendRef\'s URLRewrite repeated', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.example' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'b.example' } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'Invalid value: URLRewrite filter cannot be repeated' },
  { name: 'a backendRef\'s RequestRedirect with a URLRewrite', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'a.example' } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'Invalid value: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both' },
  { name: 'a backendRef with more than 16 filters', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: Array.from({ length: 17 }, () => mirror()) }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'Too many: 17: must have at most 16 items' },
  { name: 'a backendRef\'s filters with a RequestMirror and another filter: still refused for the other', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [mirror(), { type: 'CORS', cors: { allowOrigins: ['https://a.example'] } }] }] })], resource: R, path: 'spec.rules[0].backendRefs[0].filters', message: 'are not supported by jwtgate, and a filter may not be skipped: the rule answers 500' },
  { name: 'unsupported filter type', docs: [gateway(), rule({ filters: [{ type: 'ExternalAuth', externalAuth: { protocol: 'HTTP', backendRef: { name: 'auth', port: 80 } } }] })], resource: R, path: 'spec.rules[0].filters[0].type', message: 'filter type ExternalAuth not supported' },
  { name: 'ExtensionRef to another kind', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'Backend', name: 'x' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'not supported by jwtgate (only gateway.kgateway.dev/TrafficPolicy and DirectResponse)' },
  { name: 'ExtensionRef to a DirectResponse that does not exist', docs: [gateway(), rule({ backendRefs: [], filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'DirectResponse', name: 'x' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'gateway.kgateway.dev/DirectResponse/default/x: policy not found: the rule has no action, and answers 500' },
  { name: 'ExtensionRef to a missing TrafficPolicy', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: 'nope' } }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'TrafficPolicy default/nope not found' },
  { name: 'Service backendRef without port', docs: [gateway(), rule({ backendRefs: [{ name: 'app' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].port', message: 'must have port for Service reference' },
  { name: 'negative weight', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, weight: -1 }] })], resource: R, path: 'spec.rules[0].backendRefs[0].weight', message: 'must be greater than or equal to 0' },
  { name: 'backendRef to an unsupported kind', docs: [gateway(), rule({ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].kind', message: 'not supported by jwtgate' },
  { name: 'backendRef to a missing Backend', docs: [gateway(), rule({ backendRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'nope' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].name', message: 'Backend default/nope not found' },
  { name: 'cross-namespace backendRef without ReferenceGrant', docs: [gateway(), rule({ backendRefs: [{ name: 'app', namespace: 'other', port: 80 }] })], resource: R, path: 'spec.rules[0].backendRefs[0].namespace', message: 'is not permitted: no ReferenceGrant in namespace other' },
  { name: 'route hostname with a port', docs: [gateway(), route({ hostnames: ['example.com:8080'] })], resource: R, path: 'spec.hostnames[0]', message: 'must be a DNS name without a port' },
  { name: 'route hostname double wildcard', docs: [gateway(), route({ hostnames: ['*.*.example.com'] })], resource: R, path: 'spec.hostnames[0]', message: 'single "*." wildcard' },
  { name: 'parent Gateway missing', docs: [route()], resource: R, path: 'spec.parentRefs[0]', message: 'Gateway default/gw not found', severity: 'warning' },
  { name: 'route from another namespace with allowedRoutes Same', docs: [gateway(), route({}, 'app', 'team')], resource: 'HTTPRoute/team/app', path: 'spec.parentRefs[0]', message: 'not allowed by the listeners of Gateway default/gw', severity: 'warning' },
  { name: 'route hostname outside the listener hostname', docs: [listener({ hostname: 'a.example.com' }), route({ hostnames: ['b.example.com'] })], resource: R, path: 'spec.parentRefs[0]', message: 'no hostname of the route matches a listener hostname', severity: 'warning' },
  // ----- Backend
  { name: 'AWS backend', docs: [backend({ type: 'AWS', aws: { lambda: {} } })], resource: B, path: 'spec.aws', message: 'Backend type AWS is not supported by jwtgate' },
  { name: 'static without hosts', docs: [backend({ static: { hosts: [] } })], resource: B, path: 'spec.static.hosts', message: 'must have at least 1 item' },
  { name: 'static host without port', docs: [backend({ static: { hosts: [{ host: 'x' }] } })], resource: B, path: 'spec.static.hosts[0].port', message: 'Required value' },
  { name: 'type Static without static', docs: [backend({ type: 'Static' })], resource: B, path: 'spec', message: 'static must be set when type is Static' },
  { name: 'appProtocol http2 is ignored', docs: [backend({ static: { hosts: [{ host: 'x', port: 80 }], appProtocol: 'http2' } })], resource: B, path: 'spec.static.appProtocol', message: 'appProtocol http2 is ignored', severity: 'warning' },
  // ----- documents
  { name: 'unknown kind', docs: [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: md('d'), spec: {} }], resource: 'Deployment/default/d', path: 'kind', message: 'ignored', severity: 'warning' },
  { name: 'duplicate resource', docs: [gateway(), gateway()], resource: G, path: 'metadata.name', message: 'duplicate Gateway default/gw' },
  { name: 'metadata.name missing', docs: [{ apiVersion: GWAPI, kind: 'Gateway', metadata: {}, spec: {} }], resource: 'Gateway/default/?', path: 'metadata.name', message: 'Required value' },
  { name: 'metadata.name not a DNS name', docs: [gateway({}, 'My_Gateway')], resource: 'Gateway/default/My_Gateway', path: 'metadata.name', message: 'lowercase RFC 1123 subdomain' },
  { name: 'a static host over 100 characters that is neither an IP address nor a DNS name is cut in the warning (branch no test took)', docs: [backend({ static: { hosts: [{ host: `${'a_'.repeat(60)}`, port: 80 }] } })], resource: B, path: 'spec.static.hosts[0].host', message: `"${'a_'.repeat(50)}…" is neither an IP address (without a zone) nor a DNS name`, severity: 'warning' },
  { name: 'a static host that is neither an IP address nor a DNS name never has an address', docs: [backend({ static: { hosts: [{ host: '10.0.0.1', port: 80 }, { host: '127.0.0.1:41001', port: 80 }] } })], resource: B, path: 'spec.static.hosts[1].host', message: '"127.0.0.1:41001" is neither an IP address (without a zone) nor a DNS name: it never has an address', severity: 'warning' },
  { name: 'unexpanded shell variable', docs: [backend({ static: { hosts: [{ host: '$HOST_KEYCLOAK', port: 443 }] } })], resource: B, path: 'spec.static.hosts[0].host', message: 'unexpanded shell variable', severity: 'warning' },
  // ----- Limits and branches no other case reached (found by mutation testing)
  { name: 'remote url too long', docs: [jwtExt({ jwks: remote({ url: `https://idp.example.com/${'a'.repeat(2025)}` }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'may not be more than 2048 characters' },
  { name: 'providers an empty list', docs: [ext({ jwt: { providers: [] } })], resource: E, path: 'spec.jwt.providers', message: 'Required value: at least one provider is needed' },
  { name: 'type JWT with jwt null', docs: [ext({ type: 'JWT', jwt: null })], resource: E, path: 'spec', message: 'JWT must be set when type is JWT' },
  { name: 'tokenSource.queryParameter empty', docs: [jwtExt({ tokenSource: { queryParameter: '' } })], resource: E, path: `${pp}.tokenSource.queryParameter`, message: 'must not be empty' },
  { name: 'ConfigMap jwks key empty', docs: [jwtExt({ jwks: { local: { configMapRef: { name: 'jwks' } } } }), configMap({ jwks: '' })], resource: E, path: `${pp}.jwks.local.configMapRef`, message: "configmap key 'jwks' not found in ConfigMap default/jwks" },
  { name: 'PathPrefix with an encoded slash in upper case', docs: [gateway(), rule({ matches: [{ path: { type: 'PathPrefix', value: '/a%2Fb' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: "must not contain '%2F'" },
  { name: 'Backend type AWS without its field', docs: [backend({ type: 'AWS' })], resource: B, path: 'spec.type', message: 'Backend type AWS is not supported by jwtgate (only Static)' },
  { name: 'route on a listener whose kinds are GRPCRoute only', docs: [listener({ allowedRoutes: { kinds: [{ kind: 'GRPCRoute' }] } }), route()], resource: R, path: 'spec.parentRefs[0]', message: 'not allowed by the listeners of Gateway default/gw', severity: 'warning' },
  { name: 'ListenerPolicy unknown top-level field fails closed', docs: [gateway(), listenerPolicy({ ipAllowList: ['10.0.0.0/8'] })], resource: 'ListenerPolicy/default/lp', path: 'spec.ipAllowList', message: 'ipAllowList (a field jwtgate does not know, which could deny or strip) is not applied by jwtgate' },
  { name: 'ListenerSet parentRef to another project\'s Gateway kind attaches to nothing', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), { ...listenerSet(), spec: { parentRef: { group: 'networking.istio.io', kind: 'Gateway', name: 'gw' }, listeners: [{ name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }] } }], resource: LS, path: 'spec.parentRef', message: 'parent networking.istio.io/Gateway is not a Gateway: this ListenerSet attaches to nothing and is ignored', severity: 'warning' },
  { name: 'Secret data whose length is not a multiple of 4 is not base64', docs: [secret({ ca: 'abc' })], resource: 'Secret/default/ca', path: 'data.ca', message: 'must be base64-encoded' },
  { name: 'too many targetSelectors', docs: [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: many(17, () => ({ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { app: 'x' } })) })], resource: P, path: 'spec.targetSelectors', message: 'must have at most 16 items' },
  // ----- Lines no test reached (V8 coverage): each pins its exact path, severity and message.
  { name: 'TrafficPolicy targeting a ListenerSet whose parent Gateway is invalid', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } }, listeners: [{ name: 'http', protocol: 'HTTP', port: 0 }] }), listenerSet(), jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'target ListenerSet default/ls: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/ls: its Gateway default/gw is invalid and not served: nothing of it is served', severity: 'warning' },
  { name: 'TrafficPolicy targetSelectors of ListenerSets: the ListenerSets its matchLabels select, in its namespace, and what their requests get', docs: [gateway({ allowedListeners: { namespaces: { from: 'All' } } }), { ...listenerSet(), metadata: md('ls', 'default', { labels: { team: 'a' } }) }, { ...listenerSet({ hostname: 'b.example.com' }, 'ls-b'), metadata: md('ls-b', 'default', { labels: { team: 'b' } }) }, { ...listenerSet({ hostname: 'o.example.com' }, 'ls', 'other'), metadata: md('ls', 'other', { labels: { team: 'a' } }) }, jwtExt(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', matchLabels: { team: 'a' } }] })], resource: P, path: 'spec.targetSelectors[0].kind', message: 'target kind ListenerSet: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/ls: listener api: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500', severity: 'warning' },
  { name: 'TrafficPolicy targetSelectors of ListenerSets that select none', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), { ...listenerSet(), metadata: md('ls', 'default', { labels: { team: 'a' } }) }, jwtExt(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', matchLabels: { team: 'b' } }] })], resource: P, path: 'spec.targetSelectors[0].kind', message: 'target kind ListenerSet: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it (these matchLabels select no ListenerSet here)', severity: 'warning' },
  { name: 'TrafficPolicy targetSelectors of GRPCRoutes', docs: [gateway(), jwtExt(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', matchLabels: { team: 'b' } }] })], resource: P, path: 'spec.targetSelectors[0].kind', message: "target kind GRPCRoute: GRPCRoutes are not served by jwtgate (it serves HTTP/1.1: gRPC requests are not served, and requests for the route's hostnames are matched against the HTTPRoutes of the port), so this target attaches to nothing here, where kgateway attaches the policy to it", severity: 'warning' },
  { name: 'HTTPRoute with a misspelt spec key that starts with "rules" is refused (serve refuses to start)', docs: [gateway(), { ...route(), spec: { parentRefs: [{ name: 'gw' }], rulesX: [{ backendRefs: [{ name: 'app', port: 80 }] }] } }], resource: R, path: 'spec', message: 'the route is refused: serve refuses to start, as its requests would go to another route' },
  { name: 'every backendRef of a rule has weight 0', docs: [gateway(), rule({ backendRefs: [{ name: 'app', port: 80, weight: 0 }, { name: 'app2', port: 80, weight: 0 }] })], resource: R, path: 'spec.rules[0].backendRefs', message: 'every backendRef has weight 0: requests matching this rule get 500', severity: 'warning' },
  { name: 'backendRef to an invalid Backend', docs: [gateway(), backend({ static: { hosts: [{ host: 'h', port: 0 }] } }), rule({ backendRefs: [{ group: 'gateway.kgateway.dev', kind: 'Backend', name: 'be' }] })], resource: R, path: 'spec.rules[0].backendRefs[0].name', message: 'Backend default/be is invalid (requests for it get 500): spec.static.hosts[0].port: Invalid value: 0: must be greater than or equal to 1' },
  { name: 'HTTPRoute parentRef of another kind is ignored', docs: [gateway(), route({ parentRefs: [{ group: '', kind: 'Service', name: 'svc' }, { name: 'gw' }] })], resource: R, path: 'spec.parentRefs[0]', message: 'parent core/Service is not supported by jwtgate (only Gateway): this parentRef is ignored', severity: 'warning' },
  { name: 'HTTPRoute parentRef to a Gateway of another group is ignored', docs: [gateway(), route({ parentRefs: [{ group: 'networking.istio.io', kind: 'Gateway', name: 'gw' }, { name: 'gw' }] })], resource: R, path: 'spec.parentRefs[0]', message: 'parent networking.istio.io/Gateway is not supported by jwtgate (only Gateway): this parentRef is ignored', severity: 'warning' },
  { name: 'a rule that is null', docs: [gateway(), route({ rules: [{ name: 'main', backendRefs: [{ name: 'app', port: 80 }] }, null] })], resource: R, path: 'spec.rules[1]', message: 'Invalid value: null' },
  { name: 'ExtensionRef filter without extensionRef', docs: [gateway(), rule({ filters: [{ type: 'ExtensionRef' }] })], resource: R, path: 'spec.rules[0].filters[0].extensionRef', message: 'Required value: extensionRef must be specified for ExtensionRef filter type' },
  { name: 'PathPrefix ending in /..', docs: [gateway(), rule({ matches: [{ path: { type: 'PathPrefix', value: '/a/..' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: 'Invalid value: "/a/..": must not end with \'/..\' or \'/.\' when type one of [\'Exact\', \'PathPrefix\']' },
  { name: 'Exact path ending in /.', docs: [gateway(), rule({ matches: [{ path: { type: 'Exact', value: '/a/.' } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: 'Invalid value: "/a/.": must not end with \'/..\' or \'/.\'' },
  { name: 'duplicate queryParams names', docs: [gateway(), rule({ matches: [{ queryParams: [{ name: 'q', value: '1' }, { name: 'q', value: '2' }] }] })], resource: R, path: 'spec.rules[0].matches[0].queryParams[1].name', message: 'Duplicate value: "q": query parameter names must be unique within a match' },
  { name: 'Gateway listeners not a list', docs: [gateway({ listeners: { name: 'http', protocol: 'HTTP', port: 8080 } })], resource: G, path: 'spec.listeners', message: 'Invalid value: must be a list' },
  { name: 'Gateway listeners an empty list', docs: [gateway({ listeners: [] })], resource: G, path: 'spec.listeners', message: 'Required value: must have at least 1 item' },
  { name: 'remote jwks without backendRef, url not a URL: the hint keeps its placeholders', docs: [jwtExt({ jwks: { remote: { url: 'not a url' } } })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'Required value: kgateway fetches the JWKS through a backend, not from the url alone: add backendRef naming the Service or Backend that reaches the IdP, e.g. backendRef: {name: SERVICE, namespace: NS, port: 443} (a Service needs its port) or backendRef: {group: gateway.kgateway.dev, kind: Backend, name: BACKEND} (a Backend with static host the IdP, port 443)' },
  { name: 'type JWT with jwt set is deprecated', docs: [ext({ type: 'JWT', jwt: { providers: [provider()] } })], resource: E, path: 'spec.type', message: 'type is deprecated and has no effect: the set field decides the extension type', severity: 'warning' },
  { name: 'BackendConfigPolicy targetRef to an Istio Hostname', docs: [{ ...bcp({ insecureSkipVerify: true }), spec: { targetRefs: [{ group: 'networking.istio.io', kind: 'Hostname', name: 'h' }], tls: { insecureSkipVerify: true } } }], resource: BCP, path: 'spec.targetRefs[0]', message: 'an Istio Hostname target is not applied: jwtgate has no Istio service registry', severity: 'warning' },
  { name: 'a selector sectionName in none of more than three selected Gateways names three and the count', docs: [...['a', 'b', 'c', 'd'].map((n, i) => ({ ...gateway({ listeners: [{ name: 'http', protocol: 'HTTP', port: 8080 + i }] }, n), metadata: md(n, 'default', { labels: { app: 'x' } }) })), jwtExt(), gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { app: 'x' }, sectionName: 'nope' }] })], resource: P, path: 'spec.targetSelectors[0].sectionName', message: 'listener "nope" is in none of the 4 Gateways these matchLabels select (default/a, default/b, default/c and 1 more): this selector attaches nothing', severity: 'warning' },
  { name: 'an unknown kind in a kgateway group, near no kind jwtgate reads, is ignored with a warning (no lookalike)', docs: [{ apiVersion: KGW, kind: 'Frobnicator', metadata: md('f'), spec: {} }], resource: 'Frobnicator/default/f', path: 'kind', message: 'kind Frobnicator (gateway.kgateway.dev/v1alpha1) ignored: jwtgate does not use it', severity: 'warning' },
  { name: 'a null list item (parentRefs) refuses the route', docs: [gateway(), route({ parentRefs: [null] })], resource: R, path: 'spec.parentRefs[0]', message: 'Invalid value: null: list items must not be empty (the route is refused: serve refuses to start, as its requests would go to another route)' },
  { name: 'jwks.local.inline PEM PUBLIC KEY whose body is not a key', docs: [jwtExt({ jwks: { local: { inline: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' } } })], resource: E, path: `${pp}.jwks.local.inline`, message: 'cannot parse local jwks: PEM: PEM block is neither a PKCS#1 nor a PKIX public key (jwks.local takes a PEM PUBLIC KEY or RSA PUBLIC KEY block)' },
  { name: 'remote jwks backendRef of a kind that is not a Service or Backend', docs: [jwtExt({ jwks: remote({ backendRef: { group: 'example.com', kind: 'Foo', name: 'x' } }) })], resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'jwt: remote jwks: unresolved backend ref: kind example.com/Foo is not supported (Service or gateway.kgateway.dev Backend)' },
  // ----- branches no test took (V8 branch coverage)
  { name: 'TrafficPolicy targeting a ListenerSet by a name no ListenerSet has', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet(), jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'nope' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'target ListenerSet default/nope: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/nope is not found', severity: 'warning' },
  { name: 'TrafficPolicy targeting one listener (sectionName) of a ListenerSet: only that listener is described', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), { ...listenerSet(), spec: { parentRef: { name: 'gw', namespace: 'default' }, listeners: [{ name: 'api', protocol: 'HTTP', port: 8080, hostname: 'api.example.com' }, { name: 'off', protocol: 'HTTP', port: 8081, hostname: 'off.example.com' }] } }, jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls', sectionName: 'off' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'target ListenerSet default/ls: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/ls: listener off: not served (jwtgate does not listen on port 8081 for Gateway default/gw): connection refused, as no Gateway listens on that port', severity: 'warning' },
  { name: 'TrafficPolicy targeting a ListenerSet listener (sectionName) the ListenerSet lacks', docs: [gateway({ allowedListeners: { namespaces: { from: 'Same' } } }), listenerSet(), jwtExt(), gwPolicy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: 'ls', sectionName: 'web' }] })], resource: P, path: 'spec.targetRefs[0].kind', message: 'what its requests get: ListenerSet default/ls: listener web: not found in it', severity: 'warning' },
  { name: 'HTTPRoute parentRef with a sectionName and a port no listener has', docs: [gateway(), route({ parentRefs: [{ name: 'gw', sectionName: 'web', port: 8080 }] })], resource: R, path: 'spec.parentRefs[0]', message: 'Gateway default/gw has no valid listener named "web" on port 8080', severity: 'warning' },
  { name: 'HTTPRoute parentRef with a port no listener has', docs: [gateway(), route({ parentRefs: [{ name: 'gw', port: 9090 }] })], resource: R, path: 'spec.parentRefs[0]', message: 'Gateway default/gw has no valid listener on port 9090', severity: 'warning' },
  { name: 'TrafficPolicy targeting a rule (sectionName) of an HTTPRoute whose rules have no names', docs: [gateway(), route({ rules: [{ backendRefs: [{ name: 'app', port: 80 }] }] }), jwtExt(), policy({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'app', sectionName: 'main' }], jwtAuth: { extensionRef: { name: 'ext' } } })], resource: P, path: 'spec.targetRefs[0].sectionName', message: 'rule "main" not found in HTTPRoute default/app (named rules: none): kgateway silently ignores this target', severity: 'warning' },
];

function compile(docs: readonly Doc[] | string): readonly ConfigProblem[] {
  const text = typeof docs === 'string' ? docs : docs.map((d) => JSON.stringify(d)).join('\n---\n');
  return compileText(text, { generation: 1 }, 'case.yaml').problems;
}

function assertProblem(problems: readonly ConfigProblem[], c: Omit<Case, 'docs' | 'name'>): void {
  const severity = c.severity ?? 'error';
  const hit = problems.find((p) => p.resource === c.resource && p.path === c.path && p.message.includes(c.message) && p.severity === severity);
  assert.ok(
    hit,
    `expected ${severity} on ${c.resource} ${c.path} containing ${JSON.stringify(c.message)}; got:\n${problems.map((p) => `  ${p.severity} ${p.resource} ${p.path}: ${p.message}`).join('\n')}`,
  );
  assert.ok(hit.source && /:\d+$/.test(hit.source), `problem has a file:line source (${hit.source})`);
}

test('item and length limits (Gateway API and kgateway CRDs): at the limit nothing is reported at that path, one over is an error there (found by mutation testing: only far-over values were tried)', () => {
  const gwRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' };
  const filterTo = (i: number): Doc => ({ type: 'ExtensionRef', extensionRef: { group: 'gateway.kgateway.dev', kind: 'TrafficPolicy', name: `p${i}` } });
  const limits: { what: string; at: (n: number) => readonly Doc[]; limit: number; resource: string; path: string; message: string }[] = [
    { what: 'HTTPRoute parentRefs', limit: 32, at: (n) => [gateway(), route({ parentRefs: many(n, () => ({ name: 'gw' })) })], resource: R, path: 'spec.parentRefs', message: 'must have at most 32 items' },
    { what: 'HTTPRoute hostnames', limit: 16, at: (n) => [gateway(), route({ hostnames: many(n, (i) => `h${i}.example.com`) })], resource: R, path: 'spec.hostnames', message: 'must have at most 16 items' },
    { what: 'HTTPRoute rules', limit: 16, at: (n) => [gateway(), route({ rules: many(n, () => ({ backendRefs: [{ name: 'app', port: 80 }] })) })], resource: R, path: 'spec.rules', message: 'must have at most 16 items' },
    { what: 'rule matches', limit: 64, at: (n) => [gateway(), rule({ matches: many(n, (i) => ({ path: { type: 'Exact', value: `/m${i}` } })) })], resource: R, path: 'spec.rules[0].matches', message: 'must have at most 64 items' },
    { what: 'rule filters', limit: 16, at: (n) => [gateway(), rule({ filters: many(n, filterTo) })], resource: R, path: 'spec.rules[0].filters', message: 'must have at most 16 items' },
    { what: 'rule backendRefs', limit: 16, at: (n) => [gateway(), rule({ backendRefs: many(n, (i) => ({ name: `app${i}`, port: 80 })) })], resource: R, path: 'spec.rules[0].backendRefs', message: 'must have at most 16 items' },
    { what: 'match headers', limit: 16, at: (n) => [gateway(), rule({ matches: [{ headers: many(n, (i) => ({ name: `x-h${i}`, value: 'v' })) }] })], resource: R, path: 'spec.rules[0].matches[0].headers', message: 'must have at most 16 items' },
    { what: 'match queryParams', limit: 16, at: (n) => [gateway(), rule({ matches: [{ queryParams: many(n, (i) => ({ name: `q${i}`, value: 'v' })) }] })], resource: R, path: 'spec.rules[0].matches[0].queryParams', message: 'must have at most 16 items' },
    { what: 'match path value length', limit: 1024, at: (n) => [gateway(), rule({ matches: [{ path: { type: 'PathPrefix', value: `/${'p'.repeat(n - 1)}` } }] })], resource: R, path: 'spec.rules[0].matches[0].path.value', message: 'may not be more than 1024 characters' },
    { what: 'Gateway listeners', limit: 64, at: (n) => [gateway({ listeners: many(n, (i) => ({ name: `l${i}`, protocol: 'HTTP', port: 8000 + i })) })], resource: G, path: 'spec.listeners', message: 'must have at most 64 items' },
    { what: 'TrafficPolicy targetSelectors', limit: 16, at: (n) => [jwtExt(), gateway(), gwPolicy({ targetRefs: undefined, targetSelectors: many(n, (i) => ({ ...gwRef, name: undefined, matchLabels: { app: `x${i}` } })) })], resource: P, path: 'spec.targetSelectors', message: 'must have at most 16 items' },
    { what: 'TrafficPolicy basicAuth users', limit: 256, at: (n) => [gateway(), authPolicy({ basicAuth: { users: many(n, (i) => `u${i}:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=`) } })], resource: P, path: 'spec.basicAuth.users', message: 'must have at most 256 items' },
    { what: 'TrafficPolicy apiKeyAuth keySources', limit: 16, at: (n) => [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: many(n, (i) => ({ header: `x-k${i}` })) } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources', message: 'must have at most 16 items' },
    { what: 'apiKeyAuth key source name length', limit: 256, at: (n) => [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, keySources: [{ cookie: 'c'.repeat(n) }] } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.keySources[0].cookie', message: 'may not be more than 256 characters' },
    { what: 'apiKeyAuth clientIdHeader length (Envoy\'s rule)', limit: 1024, at: (n) => [gateway(), authPolicy({ apiKeyAuth: { secretRef: { name: 'keys' }, clientIdHeader: 'x'.repeat(n) } }), strSecret({ alice: 'k-1' }, 'keys')], resource: P, path: 'spec.apiKeyAuth.clientIdHeader', message: 'may not be more than 1024 characters' },
    { what: 'ListenerSet listeners', limit: 64, at: (n) => [{ ...listenerSet(), spec: { parentRef: { name: 'gw' }, listeners: many(n, (i) => ({ name: `l${i}`, protocol: 'HTTP', port: 8000 + i })) } }], resource: LS, path: 'spec.listeners', message: 'must have at most 64 items' },
    { what: 'namespace length', limit: 63, at: (n) => [{ ...route(), metadata: md('app', 'n'.repeat(n)) }], resource: '', path: 'metadata.namespace', message: 'may not be more than 63 characters' },
    { what: 'remote url length', limit: 2048, at: (n) => [jwtExt({ jwks: remote({ url: `https://idp.example.com/${'a'.repeat(n - 24)}` }) })], resource: E, path: `${pp}.jwks.remote.url`, message: 'may not be more than 2048 characters' },
  ];
  for (const l of limits) {
    const atPath = (docs: readonly Doc[]) => compile(docs).filter((p) => (l.resource === '' || p.resource === l.resource) && p.path === l.path && p.severity === 'error');
    assert.deepEqual(atPath(l.at(l.limit)).map((p) => p.message), [], `${l.what}: ${l.limit} is allowed`);
    const over = atPath(l.at(l.limit + 1));
    assert.ok(over.some((p) => p.message.includes(l.message)), `${l.what}: ${l.limit + 1} is refused: ${JSON.stringify(over.map((p) => p.message))}`);
  }
  // The backendRef weight bound is a value, not a count.
  const weight = (w: number) => compile([gateway(), rule({ backendRefs: [{ name: 'app', port: 80, weight: w }] })]).filter((p) => p.resource === R && p.path === 'spec.rules[0].backendRefs[0].weight');
  assert.deepEqual(weight(1_000_000), []);
  assert.ok(weight(1_000_001).some((p) => p.severity === 'error' && p.message.includes('must be less than or equal to 1000000')));
});

test('retry is applied, not ignored: a valid HTTPRoute rule retry and TrafficPolicy retry give no problem at all', () => {
  const problems = compile([
    jwtExt(),
    gateway(),
    rule({ retry: { attempts: 3, codes: [503], backoff: '100ms' }, timeouts: { request: '10s', backendRequest: '2s' } }),
    route({ rules: [{ name: 'empty', backendRefs: [{ name: 'app', port: 80 }], retry: {} }] }, 'other'),
    gwPolicy({ timeouts: { request: '10s' }, retry: { retryOn: ['5xx', 'reset'], attempts: 0, perTryTimeout: '2s', statusCodes: [404], backoffBaseInterval: '1s' } }),
  ]);
  assert.deepEqual(problems.filter((p) => /retry/i.test(`${p.path} ${p.message}`)).map((p) => `${p.severity} ${p.resource} ${p.path}: ${p.message}`), []);
  assert.deepEqual(problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`), []);
});

test('RequestMirror is applied, not refused: valid mirrors (repeated, percent, fraction, none) give no problem at all, and a backendRef whose only filter is a RequestMirror serves (its mirror ignored with a warning)', () => {
  const problems = compile([
    gateway(),
    rule({ filters: [mirror(), mirror({ percent: 0 }), mirror({ fraction: { numerator: 1, denominator: 3 } }), mirror({ fraction: { numerator: 100 } })] }),
  ]);
  assert.deepEqual(problems.map((p) => `${p.severity} ${p.resource} ${p.path}: ${p.message}`), []);
  const s = compileText([gateway(), rule({ backendRefs: [{ name: 'app', port: 80, filters: [mirror()] }] })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'case.yaml');
  assert.deepEqual(s.problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`), []);
  const r = selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' })!.route;
  assert.equal(r.invalid, undefined);
  assert.equal(r.mirrors, undefined, 'no mirror from a backendRef');
});

test('an invalid TrafficPolicy retry makes the policy invalid: its routes answer 500', () => {
  const s = compileText([jwtExt(), gateway(), rule({}), gwPolicy({ retry: { attempts: 2 } })].map((d) => JSON.stringify(d)).join('\n---\n'), { generation: 1 }, 'case.yaml');
  const r = selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '', scheme: 'http' });
  assert.match(r?.route.invalid ?? '', /TrafficPolicy\/default\/pol is invalid: spec\.retry: Invalid value: retryOn or statusCodes must be set/);
  assert.equal(r?.route.retry, undefined);
});

test("claimsToHeaders overwrite: false (kgateway's default: the header is not stripped beyond the routes the check runs on, as jwtgate does) is accepted", () => {
  const problems = compile([jwtExt({ claimsToHeaders: [{ name: 'team', header: 'x-team', overwrite: false }] }), gateway(), gwPolicy()]);
  assert.deepEqual(problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`), []);
});

test('credentials written in the config are never quoted by a problem', () => {
  const problems = compile([
    secret({ pin: 8675309123, flag: true }),
    jwtExt({ jwks: remote({ url: 'https://user:Pa55w0rd@idp example.com/certs?api_key=K3Y' }) }),
    gateway(),
    rule({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-api-key', value: 'S3CRETVALUE(' }] }] }),
  ]);
  assert.ok(problems.length >= 3);
  for (const p of problems) assert.doesNotMatch(p.message, /8675309123|Pa55w0rd|K3Y|S3CRETVALUE|user/, p.message);
});

test('a user name and password written into a Backend host or a backendRef name are never printed: check, --output json, the serve log and /config_dump show redacted@ (the host warning quoted the password)', async () => {
  const { configDump } = await import('../../src/config/dump.js');
  const KGW_GROUP = 'gateway.kgateway.dev';
  const text = [
    backend({ static: { hosts: [{ host: 'svc-user:Pa55w0rd@api.example.com', port: 80 }, { host: '10.0.0.1', port: 80 }] } }),
    gateway(),
    route({ parentRefs: [{ name: 'gw', namespace: 'default' }], rules: [
      { name: 'main', backendRefs: [{ group: KGW_GROUP, kind: 'Backend', name: 'be' }] },
      { name: 'typo', matches: [{ path: { type: 'PathPrefix', value: '/x' } }], backendRefs: [{ group: KGW_GROUP, kind: 'Backend', name: 'svc-user:Pa55w0rd@be' }] },
    ] }),
    jwtExt({ jwks: remote({ backendRef: { group: KGW_GROUP, kind: 'Backend', name: 'idp:Pa55w0rd@idp' } }) }),
  ].map((d) => JSON.stringify(d)).join('\n---\n');
  const snapshot = compileText(text, { generation: 1 }, 'case.yaml');
  const problems = snapshot.problems;
  assertProblem(problems, { resource: B, path: 'spec.static.hosts[0].host', message: '"redacted@api.example.com" is neither an IP address (without a zone) nor a DNS name', severity: 'warning' });
  assertProblem(problems, { resource: R, path: 'spec.rules[1].backendRefs[0].name', message: 'Backend default/redacted@be not found' });
  assertProblem(problems, { resource: E, path: `${pp}.jwks.remote.backendRef`, message: 'Backend default/redacted@idp not found' });
  // check prints these messages as they are (text or JSON), and serve logs them.
  for (const p of problems) assert.doesNotMatch(`${p.path} ${p.message}`, /Pa55w0rd|svc-user|idp:/, p.message);
  const dump = JSON.stringify(configDump(snapshot));
  assert.match(dump, /"redacted@api\.example\.com:80"/);
  assert.doesNotMatch(dump, /Pa55w0rd/);
});

test('the invalid-config table covers at least 30 cases', () => {
  assert.ok(cases.length >= 30, `${cases.length} cases`);
});

for (const c of cases) {
  test(`invalid config: ${c.name}`, () => {
    assertProblem(compile(c.docs), c);
  });
}

// File fixtures: `# expect: <severity> <resource> <path> <message substring>` lines.
const invalidDir = path.join(fixturesDir, 'config', 'invalid');
for (const file of readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`invalid fixture: ${file}`, () => {
    const text = readFileSync(path.join(invalidDir, file), 'utf8');
    const expects = [...text.matchAll(/^# expect: (error|warning) (\S+) (\S+) (.+)$/gm)];
    assert.ok(expects.length > 0, 'fixture has # expect: lines');
    const problems = compileText(text, { generation: 1 }, file).problems;
    for (const m of expects) {
      assertProblem(problems, { severity: m[1] as 'error' | 'warning', resource: m[2]!, path: m[3] === '-' ? '' : m[3]!, message: m[4]!.trim() });
    }
  });
}

test('a ListenerPolicy with a value of the wrong type is reported and not applied: its Gateway is served (the API server would refuse the policy, not the Gateway)', () => {
  const problems = compile([gateway(), listenerPolicy({ default: 'x', perPort: ['y'] })]);
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error').map((p) => [p.resource, p.path]),
    [
      ['ListenerPolicy/default/lp', 'spec.default'],
      ['ListenerPolicy/default/lp', 'spec.perPort[0]'],
    ],
  );
});

test('all problems are collected, not only the first', () => {
  const problems = compile([
    jwtExt({ name: '', issuer: 'i'.repeat(3000), audiences: [], keepToken: 'Remove' }),
    listener({ protocol: 'HTTPS', port: 0 }),
  ]);
  const paths = problems.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}`);
  for (const want of [
    `${E} ${pp}.name`,
    `${E} ${pp}.issuer`,
    `${E} ${pp}.audiences`,
    `${E} ${pp}.keepToken`,
    `${G} spec.listeners[0].port`,
    `${G} spec.listeners[0].protocol`,
  ]) {
    assert.ok(paths.includes(want), `missing ${want} in ${paths.join(', ')}`);
  }
});

test('a secret or key written where a map or object belongs is never quoted in a problem (check, logs, /config_dump show only its length)', () => {
  const secretText = 'SUPERSECRETHMACKEYMATERIAL0123456789';
  const text = [
    `apiVersion: ${KGW}\nkind: GatewayExtension\nmetadata: { name: ext, namespace: default }\nspec:\n  jwt:\n    providers:\n    - name: p\n      jwks:\n        local: '{"keys":[{"kty":"oct","k":"${secretText}"}]}'\n`,
    `apiVersion: v1\nkind: Secret\nmetadata: { name: tls, namespace: default }\nstringData: "tls.key: ${secretText}"\n`,
    `apiVersion: v1\nkind: Secret\nmetadata: { name: tls2, namespace: default }\nstringData: { tls.key: 42 }\n`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm, namespace: default }\ndata: "jwks: ${secretText}"\n`,
  ].join('---\n');
  const problems = compileText(text, { generation: 1 }, 'secrets.yaml').problems;
  const messages = problems.map((p) => `${p.path}: ${p.message}`);
  assert.ok(messages.some((m) => /jwks\.local: Invalid value: a string of \d+ characters: must be an object/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^stringData: Invalid value: a string of \d+ characters: must be a map of strings/.test(m)), messages.join('\n'));
  assert.ok(messages.some((m) => /^data: Invalid value: a string of \d+ characters/.test(m)), messages.join('\n'));
  for (const m of messages) assert.ok(!m.includes('SUPERSECRET'), m);
  // Elsewhere the value is still quoted: it helps and is not secret.
  const port = compileText(`apiVersion: ${KGW}\nkind: Backend\nmetadata: { name: b, namespace: default }\nspec: { type: Static, static: { hosts: [{ host: h, port: "$PORT" }] } }\n`, { generation: 1 }).problems;
  assert.ok(port.some((p) => p.message.includes('Invalid value: string "$PORT"')));
});

test('check text report: control characters from a manifest are written escaped (no terminal escape sequences, no forged lines)', async () => {
  const { formatCheckReport } = await import('../../src/config/report.js');
  const s = compileText(`apiVersion: ${GWAPI}\nkind: Gateway\nmetadata: { name: "ok\\e[2J\\e]0;pwned\\a\\nFAKE: 0 errors", namespace: default }\nspec: { listeners: [{ name: http, protocol: HTTP, port: 8080 }] }\n`, { generation: 1 }, 'ansi.yaml');
  const report = formatCheckReport(s);
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(report), JSON.stringify(report));
  assert.ok(!report.split('\n').some((l) => l.startsWith('FAKE')), report);
  assert.match(report, /ok\\u001b\[2J\\u001b\]0;pwned\\u0007\\u000aFAKE: 0 errors/);
});

test('no problem message says "undefined", "[object Object]" or "NaN" when names, kinds or values are missing or of the wrong type (config fuzzer)', () => {
  const text = readFileSync(path.join(fixturesDir, 'config', 'fuzz', 'messages-missing-names.yaml'), 'utf8');
  const problems = compileText(text, { generation: 1 }, 'fuzz.yaml').problems;
  assert.ok(problems.length >= 10);
  for (const p of problems) assert.doesNotMatch(p.message, /undefined|\[object Object\]|NaN/, p.message);
});

test('older kgateway GatewayExtension shapes get one error each that says what to write, not generic ones', () => {
  // kgateway's older e2e testdata: spec.jwt.jwtProviders as a list.
  const listed = compile([ext({ jwt: { jwtProviders: [provider()] } })]).filter((p) => p.resource === E && p.severity === 'error');
  assert.deepEqual(listed.map((p) => [p.path, p.message]), [['spec.jwt.jwtProviders', 'jwtProviders is the older API (a list in older kgateway releases, a map in the design doc): use providers: [{name, issuer, jwks, ...}]']]);
  // Older still: type: JWTProviders with a spec-level jwtProviders map.
  const typed = compile([ext({ type: 'JWTProviders', jwtProviders: { p: provider() } })]).filter((p) => p.resource === E && p.severity === 'error');
  assert.deepEqual(typed.map((p) => p.path).sort(), ['spec.jwtProviders', 'spec.type']);
  assert.match(typed.find((p) => p.path === 'spec.jwtProviders')!.message, /older API: use spec\.jwt: \{providers:/);
  assert.match(typed.find((p) => p.path === 'spec.type')!.message, /JWTProviders is the older API's type/);
});

test('jwks.local.inline: what to write instead, for a JWKS written as YAML, a private key, a PEM that lost its line breaks or its armour, a certificate; a JWK with private members is warned about', () => {
  const pair = keyPair('ec', { namedCurve: 'P-256' });
  const publicPem = pair.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const privatePem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const rsaPrivatePem = keyPair('rsa').privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
  const at = `${pp}.jwks.local.inline`;
  const one = (inline: unknown): ConfigProblem[] => compile([jwtExt({ jwks: { local: { inline } } })]).filter((p) => p.resource === E && p.path === at);
  const yamlObject = 'Invalid value: an object: must be a string holding the key text (a JWKS or JWK as JSON text, or a PEM public key), not YAML: quote the JSON (\'{"keys":[...]}\') or write it under a literal block (`inline: |` with the JSON indented below)';
  assert.deepEqual(one(JSON.parse(JWKS)).map((p) => p.message), [yamlObject]);
  for (const pem of [privatePem, rsaPrivatePem]) {
    const [p, ...rest] = one(pem);
    assert.equal(rest.length, 0);
    assert.match(p!.message, /^cannot parse local jwks: this is a private key \(PEM (RSA )?PRIVATE KEY\): jwks\.local takes the public key only; write the output of `openssl pkey -in KEY\.pem -pubout` instead/);
    assert.doesNotMatch(p!.message, /JWKS|JWK:/);
  }
  const lost = "cannot parse local jwks: the PEM's line breaks were lost (it is on one line, or a folded `>` block joined its lines): write it as a literal block, `inline: |` with the key's lines indented under it";
  assert.deepEqual(one(publicPem.trim().replace(/\n/g, ' ')).map((p) => p.message), [lost]);
  assert.deepEqual(one(`${publicPem.trim().replace(/\n/g, ' ')}\n`).map((p) => p.message), [lost]);
  assert.match(one(publicPem.split('\n').filter((l) => !l.startsWith('-----')).join('\n'))[0]?.message ?? '', /this looks like a PEM body without its armour: add the -----BEGIN PUBLIC KEY----- and -----END PUBLIC KEY----- lines/);
  assert.match(one('-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUW\n-----END CERTIFICATE-----\n')[0]?.message ?? '', /^cannot parse local jwks: this is a certificate \(PEM CERTIFICATE\), and jwks\.local takes a public key: write the output of `openssl x509 -in CERT\.pem -pubkey -noout` instead$/);
  assert.deepEqual(one(publicPem), []);
  // Private members of an asymmetric JWK: a warning (the public part is used); an oct key's k is its secret by design.
  const priv: Doc = { ...(pair.privateKey.export({ format: 'jwk' }) as Doc), kid: 'k1', alg: 'ES256' };
  assert.deepEqual(
    one(JSON.stringify({ keys: [priv] })).map((p) => [p.severity, p.message]),
    [['warning', 'private key material in a manifest (keys[0] (kid "k1"): d): only the public key is needed; remove these members (and treat the key as exposed)']],
  );
  assert.deepEqual(one(JSON.stringify(priv)).map((p) => p.message), ['private key material in a manifest (the key (kid "k1"): d): only the public key is needed; remove these members (and treat the key as exposed)']);
  assert.deepEqual(one(JSON.stringify({ keys: [{ kty: 'oct', k: 'c3VwZXJzZWNyZXQ', alg: 'HS256', kid: 'h' }] })), []);
  for (const p of compile([jwtExt({ jwks: { local: { inline: JSON.stringify({ keys: [priv] }) } } })])) assert.ok(!p.message.includes(String(priv['d'])), p.message);
});

test('TrafficPolicy targetSelectors of ListenerSets: exactly the ListenerSets of the kind its matchLabels select in its namespace are described (another label, another namespace, the other kind are not)', () => {
  const labelled = (set: Doc, labels: Doc): Doc => ({ ...set, metadata: { ...(set['metadata'] as Doc), labels } });
  const docs = [
    gateway({ allowedListeners: { namespaces: { from: 'All' } } }),
    labelled(listenerSet(), { team: 'a' }),
    labelled(listenerSet({ hostname: 'b.example.com' }, 'ls-b'), { team: 'b' }),
    labelled(listenerSet({ hostname: 'o.example.com' }, 'ls', 'other'), { team: 'a' }),
    labelled(listenerSet({ hostname: 'x.example.com' }, 'xls', 'default', 'gateway.networking.x-k8s.io/v1alpha1', 'XListenerSet'), { team: 'a' }),
    jwtExt(),
    gwPolicy({ targetRefs: undefined, targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', matchLabels: { team: 'a' } }] }),
  ];
  const at = compile(docs).filter((p) => p.resource === P && p.path === 'spec.targetSelectors[0].kind');
  assert.deepEqual(at.map((p) => [p.severity, p.message]), [
    ['warning', 'target kind ListenerSet: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet default/ls: listener api: requests for hostname api.example.com on port 8080 (Gateway default/gw) get 500'],
  ]);
});

test('a rule that is null: one error at its index, "Invalid value: null", and the route\'s other rules are still compiled', () => {
  const s = compileText(
    [gateway(), route({ rules: [{ name: 'main', backendRefs: [{ name: 'app', port: 80 }] }, null] })].map((d) => JSON.stringify(d)).join('\n---\n'),
    { generation: 1 },
    'case.yaml',
  );
  assert.deepEqual(s.problems.filter((p) => p.resource === R).map((p) => [p.severity, p.path, p.message, p.fatal ?? false]), [['error', 'spec.rules[1]', 'Invalid value: null', false]]);
  const sel = selectRoute(s.ports.get(8080)!, { method: 'GET', path: '/', query: '', host: 'h', authority: 'h', headers: [], remoteAddress: '127.0.0.1', scheme: 'http' });
  assert.equal(sel?.route.ruleName, 'main');
});

test('a problem at a path the document does not have (spec of a Gateway without spec) takes the line of the document\'s first key, after its comments', () => {
  const problems = compile(`# a comment\n# another\napiVersion: ${GWAPI}\nkind: Gateway\nmetadata: { name: gw, namespace: default }\n`);
  assert.deepEqual(
    problems.filter((p) => p.resource === G).map((p) => [p.path, p.message, p.source]),
    [
      ['spec', 'Required value', 'case.yaml:3'],
      ['spec.listeners', 'Required value: a Gateway needs at least 1 listener', 'case.yaml:3'],
    ],
  );
});

test('a targetRef without name and a targetSelector whose matchLabels is not a map target nothing: one error each at the field, no other problem about them (no Gateway "undefined", no throw)', () => {
  const problems = compile([
    gateway(),
    jwtExt(),
    policy({
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway' }],
      targetSelectors: [
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: null },
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: 'x' },
      ],
      jwtAuth: { extensionRef: { name: 'ext' } },
    }),
  ]);
  assert.deepEqual(
    problems.filter((p) => p.resource === P).map((p) => [p.severity, p.path, p.message]),
    [
      ['error', 'spec.targetRefs[0].name', 'Required value (the policy cannot tell what it targets: serve refuses to start)'],
      ['error', 'spec.targetSelectors[0].matchLabels', 'Required value (the policy cannot tell what it targets: serve refuses to start)'],
      ['error', 'spec.targetSelectors[1].matchLabels', 'Invalid value: string "x": must be a map of strings (the policy cannot tell what it targets: serve refuses to start)'],
    ],
  );
});

test('a policy in the global policy namespace: its ListenerSet targetSelectors describe the ListenerSets they select in every namespace; a Gateway selector that selects nothing names no namespace', () => {
  const labelled = (set: Doc, labels: Doc): Doc => ({ ...set, metadata: { ...(set['metadata'] as Doc), labels } });
  const docs = [
    gateway({ allowedListeners: { namespaces: { from: 'All' } } }),
    labelled(listenerSet({ hostname: 't.example.com' }, 'ls', 'team'), { team: 'a' }),
    jwtExt({}, {}, 'ext', 'infra'),
    policy({ targetSelectors: [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', matchLabels: { team: 'a' } }, { group: 'gateway.networking.k8s.io', kind: 'Gateway', matchLabels: { team: 'zz' } }], jwtAuth: { extensionRef: { name: 'ext' } } }, 'pol', 'infra'),
  ];
  const text = docs.map((d) => JSON.stringify(d)).join('\n---\n');
  const at = (globalPolicyNamespace: string | undefined) =>
    compileText(text, { generation: 1, ...(globalPolicyNamespace ? { globalPolicyNamespace } : {}) }, 'case.yaml').problems
      .filter((p) => p.resource === 'TrafficPolicy/infra/pol')
      .map((p) => [p.severity, p.path, p.message]);
  assert.deepEqual(at('infra'), [
    ['warning', 'spec.targetSelectors[1]', 'matchLabels select no Gateway: this selector attaches nothing'],
    ['warning', 'spec.targetSelectors[0].kind', 'target kind ListenerSet: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it; what its requests get: ListenerSet team/ls: listener api: requests for hostname t.example.com on port 8080 (Gateway default/gw) get 500'],
  ]);
  // The same policy outside the global namespace selects only its own namespace's ListenerSets.
  assert.deepEqual(at(undefined).map((p) => p[2]), [
    'matchLabels select no Gateway in namespace infra: this selector attaches nothing',
    'target kind ListenerSet: ListenerSets are not served by jwtgate, so this target attaches to nothing here, where kgateway attaches the policy to it (these matchLabels select no ListenerSet here)',
  ]);
});

test('a document without spec: one "spec: Required value" error for each kind whose CRD requires it (every one, the HTTPRoute included: it is refused, as any route the API server refuses), and no other problem or throw (branches no test took)', () => {
  const kinds: [string, string, string[]][] = [
    [GWAPI, 'HTTPRoute', ['error spec: Required value (the route is refused: serve refuses to start, as its requests would go to another route)']],
    [KGW, 'GatewayExtension', ['error spec: Required value']],
    [KGW, 'Backend', ['error spec: Required value']],
    [KGW, 'BackendConfigPolicy', ['error spec: Required value']],
    [GWAPI, 'ListenerSet', ['error spec: Required value']],
    [KGW, 'ListenerPolicy', ['error spec: Required value']],
    ['gateway.networking.k8s.io/v1beta1', 'ReferenceGrant', ['error spec: Required value']],
    [KGW, 'TrafficPolicy', ['error spec: Required value']],
  ];
  for (const [apiVersion, kind, want] of kinds) {
    const problems = compile([{ apiVersion, kind, metadata: md('x') }]);
    assert.deepEqual(
      problems.map((p) => `${p.severity} ${p.path}: ${p.message}`),
      want,
      kind,
    );
    assert.ok(problems.every((p) => p.resource === `${kind}/default/x`), kind);
  }
  // With the resources they would act on: a ReferenceGrant without spec permits nothing, a
  // ListenerPolicy without spec targets nothing, a BackendConfigPolicy without spec sets no TLS.
  const withTargets = compile([
    gateway(),
    rule({ backendRefs: [{ name: 'db', namespace: 'shared', port: 5432 }] }),
    { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: md('x', 'shared') },
    { apiVersion: KGW, kind: 'ListenerPolicy', metadata: md('x') },
    { apiVersion: KGW, kind: 'BackendConfigPolicy', metadata: md('x') },
  ]);
  assert.deepEqual(
    withTargets.filter((p) => p.severity === 'error').map((p) => `${p.resource} ${p.path}: ${p.message}`),
    [
      'ReferenceGrant/shared/x spec: Required value',
      'ListenerPolicy/default/x spec: Required value',
      'BackendConfigPolicy/default/x spec: Required value',
      'HTTPRoute/default/app spec.rules[0].backendRefs[0].namespace: backendRef to Service shared/db is not permitted: no ReferenceGrant in namespace shared allows HTTPRoutes from namespace default (requests for it get 500)',
    ],
  );
});

test("cors: exposeHeaders may hold * with others, and header names differing in case are not duplicates (no such CRD rules)", () => {
  const text = [gateway(), jwtExt(), gwPolicy({ cors: { allowOrigins: ['*'], exposeHeaders: ['*', 'x-a'], allowHeaders: ['X-A', 'x-a'] } })].map((d) => JSON.stringify(d)).join('\n---\n');
  const s = compileText(text, { generation: 1 }, 'cors.yaml');
  assert.deepEqual(s.problems.filter((p) => p.path.startsWith('spec.cors')), []);
});
