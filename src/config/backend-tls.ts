// BackendConfigPolicy `spec.tls` resolved per target (`Backend/ns/name`, `Service/ns/name`):
// Secrets looked up (`ca.crt`, `tls.crt`, `tls.key`), file paths kept, TLS versions mapped, the
// oldest policy winning when several target one backend (kgateway's policy ordering). Used by
// remote JWKS fetches only. Problems are reported on the policy; a broken one yields a spec
// with `error`, so fetches through it fail closed instead of falling back to plaintext.

import { certificateKeyError, isPemCertificate } from '../util/pem.js';
import type { ConfigProblem } from '../errors.js';
import type { RemoteTlsSpec } from '../types.js';
import { compareAge, labelsMatch } from './resource.js';
import { ParseCtx } from './schema.js';
import type { BackendModel } from './validate-backend.js';
import { backendRefKind, selectorAttachesNothing } from './validate-common.js';
import type { BackendConfigPolicyModel, BackendTls, SecretModel } from './validate-misc.js';

const TLS_VERSION: Readonly<Record<string, string | undefined>> = { AUTO: undefined, '1.0': 'TLSv1', '1.1': 'TLSv1.1', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

/** Target key of a backend reference, as `resolveBackendTls` indexes it. */
export function tlsTargetKey(kind: 'Backend' | 'Service', namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function resolveBackendTls(
  policies: readonly BackendConfigPolicyModel[],
  secrets: readonly SecretModel[],
  backends: readonly BackendModel[],
  problems: ConfigProblem[],
  /** kgateway's global policy namespace: its policies' targetSelectors select Backends of every namespace. */
  globalPolicyNamespace?: string,
): Map<string, RemoteTlsSpec> {
  const out = new Map<string, RemoteTlsSpec>();
  const winner = new Map<string, string>();
  const secretByKey = new Map(secrets.map((s) => [`${s.raw.namespace}/${s.raw.name}`, s]));
  const backendNames = new Set(backends.map((b) => `${b.namespace}/${b.name}`));
  const ordered = policies.filter((p) => p.valid && p.tls).sort((a, b) => compareAge(a.raw, b.raw));
  for (const p of ordered) {
    const cx = ParseCtx.for(p.raw, problems);
    const ns = p.raw.namespace;
    const targets: string[] = [];
    p.targetRefs.forEach((t, i) => {
      const kind = backendRefKind(t.group, t.kind);
      if (!kind) return;
      if (kind === 'Backend' && !backendNames.has(`${ns}/${t.name}`)) {
        cx.warn(`spec.targetRefs[${i}].name`, `target Backend ${ns}/${t.name} not found: this policy's tls applies to no Backend of that name`);
      }
      targets.push(tlsTargetKey(kind, ns, t.name));
    });
    p.targetSelectors.forEach((sel, i) => {
      if (backendRefKind(sel.group, sel.kind) !== 'Backend') return;
      const anyNamespace = ns === globalPolicyNamespace;
      const selected = backends.filter((b) => labelsMatch(b.raw.labels, sel.matchLabels));
      const hits = anyNamespace ? selected : selected.filter((b) => b.namespace === ns);
      for (const b of hits) targets.push(tlsTargetKey('Backend', b.namespace, b.name));
      if (hits.length > 0) return;
      // As for TrafficPolicy selectors: said, since this policy's tls then applies to nothing and
      // those fetches go out as the URL says (plaintext for http://).
      const elsewhere = anyNamespace ? [] : selected.map((b) => `${b.namespace}/${b.name}`);
      cx.warn(`spec.targetSelectors[${i}]`, selectorAttachesNothing('Backend', ns, elsewhere, globalPolicyNamespace, 'this selector attaches nothing and its tls applies to no fetch'));
    });
    if (targets.length === 0) continue;
    const spec = toTlsSpec(p, p.tls!, secretByKey, cx);
    for (const key of targets) {
      const first = winner.get(key);
      if (first !== undefined) {
        if (first !== p.id) cx.warn('spec.tls', `${first} (older) already sets tls for ${key}: this policy's tls is not used for it`);
        continue;
      }
      winner.set(key, p.id);
      out.set(key, spec);
    }
  }
  return out;
}

function toTlsSpec(p: BackendConfigPolicyModel, tls: BackendTls, secrets: ReadonlyMap<string, SecretModel>, cx: ParseCtx): RemoteTlsSpec {
  const ns = p.raw.namespace;
  const errors: string[] = [];
  const fail = (path: string, message: string): void => {
    cx.error(path, `${message}: remote JWKS fetches through this policy fail (401 Jwks remote fetch is failed)`);
    errors.push(message);
  };
  const spec: { -readonly [K in keyof RemoteTlsSpec]: RemoteTlsSpec[K] } = { insecureSkipVerify: tls.insecureSkipVerify === true, source: p.id };
  if (tls.sni !== undefined) spec.sni = tls.sni;
  if (tls.verifySubjectAltNames?.length) spec.verifySubjectAltNames = [...tls.verifySubjectAltNames];
  const min = TLS_VERSION[tls.parameters?.minVersion ?? 'AUTO'];
  const max = TLS_VERSION[tls.parameters?.maxVersion ?? 'AUTO'];
  if (min) spec.minVersion = min;
  if (max) spec.maxVersion = max;
  const clientCert = tls.simpleTLS !== true;
  if (tls.secretRef) {
    const key = `${ns}/${tls.secretRef.name}`;
    const secret = secrets.get(key);
    if (!secret) fail('spec.tls.secretRef.name', `Secret ${key} not found (it must be in the policy's namespace)`);
    else if (!secret.valid) fail('spec.tls.secretRef.name', `Secret ${key} is invalid`);
    else {
      const ca = secret.data['ca.crt'];
      const crt = secret.data['tls.crt'];
      const pk = secret.data['tls.key'];
      if (!ca && !(crt && pk)) fail('spec.tls.secretRef.name', `Secret ${key} has neither ca.crt nor tls.crt and tls.key`);
      if (ca) {
        if (!isPemCertificate(ca)) fail('spec.tls.secretRef.name', `Secret ${key} ca.crt is not a PEM certificate`);
        else spec.caPem = ca;
      }
      if (clientCert && (crt || pk)) {
        // kgateway validates the pair (ValidateTlsSecretData) and refuses the Secret otherwise:
        // a bad pair would only surface at each fetch, as an OpenSSL message naming nothing.
        if (!crt || !pk) fail('spec.tls.secretRef.name', `Secret ${key} has ${crt ? 'tls.crt without tls.key' : 'tls.key without tls.crt'}: a client certificate needs both`);
        else {
          const pairError = certificateKeyError(crt, pk, 'tls.crt', 'tls.key');
          if (pairError !== undefined) fail('spec.tls.secretRef.name', `Secret ${key} is not a valid TLS secret: ${pairError}`);
          else {
            spec.certPem = crt;
            spec.keyPem = pk;
          }
        }
      }
    }
  } else if (tls.files) {
    if (tls.files.rootCA) spec.caFile = tls.files.rootCA;
    if (tls.files.tlsCertificate && tls.files.tlsKey && clientCert) {
      spec.certFile = tls.files.tlsCertificate;
      spec.keyFile = tls.files.tlsKey;
    }
  }
  if (spec.verifySubjectAltNames && (tls.secretRef || tls.files) && !spec.caPem && !spec.caFile && errors.length === 0) {
    fail('spec.tls.verifySubjectAltNames', 'verifySubjectAltNames needs a root CA (ca.crt or files.rootCA) when secretRef or files is used');
  }
  if (errors.length > 0) spec.error = `${p.id}: ${errors[0]}`;
  return spec;
}
