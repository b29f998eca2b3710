// What to tell someone whose `jwks.local` text (inline or a ConfigMap's `jwks`) is not what they
// meant: a private key where the public one belongs, a PEM whose line breaks YAML folded away,
// a certificate, a JWK with its private members. Never quotes key material: member names,
// PEM labels and lengths only.

/** A PEM armour line (`-----BEGIN PUBLIC KEY-----`), its label captured. */
const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/;
/** Asymmetric JWK private members (RFC 7518 §6.2.2, §6.3.2; RFC 8037 `d`). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

/**
 * The error for a local key text no format fits: `importerError` (`cannot parse local jwks:
 * PEM: …; JWKS: …; JWK: …`) made to say what to do, and without the JWKS/JWK parts when the
 * text is clearly PEM.
 */
export function localJwksError(text: string, importerError: string): string {
  const t = text.trim();
  const begin = BEGIN.exec(t);
  if (begin && t.startsWith('-----BEGIN')) {
    const label = begin[1]!;
    if (/PRIVATE KEY/.test(label)) {
      return `cannot parse local jwks: this is a private key (PEM ${label}): jwks.local takes the public key only; write the output of \`openssl pkey -in KEY.pem -pubout\` instead (and keep the private key out of manifests)`;
    }
    // One line, or a folded `>` block: the armour and the base64 run on with spaces.
    if (!/-----BEGIN [A-Z0-9 ]+-----\r?\n/.test(t)) {
      return `cannot parse local jwks: the PEM's line breaks were lost (it is on one line, or a folded \`>\` block joined its lines): write it as a literal block, \`inline: |\` with the key's lines indented under it`;
    }
    if (/CERTIFICATE/.test(label)) {
      return `cannot parse local jwks: this is a certificate (PEM ${label}), and jwks.local takes a public key: write the output of \`openssl x509 -in CERT.pem -pubkey -noout\` instead`;
    }
    const pem = /PEM: ([^;]*)/.exec(importerError);
    return `cannot parse local jwks: PEM: ${pem ? pem[1] : 'not readable'} (jwks.local takes a PEM PUBLIC KEY or RSA PUBLIC KEY block)`;
  }
  // The base64 body of a public key without its armour lines (DER opens with a SEQUENCE: "M").
  if (t.length >= 64 && /^[A-Za-z0-9+/=\s]+$/.test(t) && t.startsWith('M')) {
    return `${importerError} (this looks like a PEM body without its armour: add the -----BEGIN PUBLIC KEY----- and -----END PUBLIC KEY----- lines, in an \`inline: |\` block)`;
  }
  return importerError;
}

/**
 * For a JWKS or JWK text that was read: where asymmetric keys carry private members, e.g.
 * `keys[0] (kid "k1"): d, p, q`; undefined when none do. An `oct` key's `k` is its secret by
 * design (HS256): not reported.
 */
export function privateKeyMembers(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const list: [string, unknown][] = obj(json) && Array.isArray(json['keys']) ? json['keys'].map((k, i) => [`keys[${i}]`, k]) : [['the key', json]];
  const found: string[] = [];
  for (const [where, k] of list) {
    if (!obj(k) || k['kty'] === 'oct') continue;
    const members = PRIVATE_MEMBERS.filter((m) => Object.hasOwn(k, m));
    if (members.length === 0) continue;
    const kid = typeof k['kid'] === 'string' && k['kid'].length <= 64 ? ` (kid "${k['kid']}")` : '';
    found.push(`${where}${kid}: ${members.join(', ')}`);
  }
  return found.length > 0 ? found.join('; ') : undefined;
}
