// Turns key material from configuration (jwks.local inline / ConfigMap) or from a remote JWKS
// document into node:crypto KeyObjects, once, when a snapshot or key set is built. Follows
// kgateway's TranslateKey format order (PEM, then JWKS, then single JWK; spec §1.5) and the
// per-key rules of jwt_verify_lib's jwks.cc (spec §4.6). Does not fetch, cache or verify.

import crypto, { type KeyObject } from 'node:crypto';
import type { ImportedKey } from '../config/snapshot.js';
import { EC_CURVE_OF_ALG, JWK_CURVE_OF_NODE_CURVE, type KeyType } from './algorithms.js';
import { decodeBase64Url } from './base64url.js';
import { isMainThread, workerData } from 'node:worker_threads';

/** Larger inputs are refused outright (a ConfigMap value cannot exceed 1 MiB anyway). */
export const MAX_JWKS_INPUT_CHARS = 1024 * 1024;

export type LocalJwksResult =
  | { ok: true; keys: ImportedKey[]; format: 'pem' | 'jwks' | 'jwk'; dropped: string[] }
  | { ok: false; error: string };

export type JwksDocumentResult = { ok: true; keys: ImportedKey[]; dropped: string[] } | { ok: false; error: string };

/**
 * Reasons are safe to log: they name members and algorithms, never key material.
 * `malformed` = the JWK cannot be read at all (go-jose, and so kgateway, rejects it);
 * otherwise it is readable but Envoy's jwks.cc drops it (e.g. `alg` and `crv` disagree).
 */
type JwkImport = { ok: true; key: ImportedKey } | { ok: false; reason: string; malformed: boolean };


/**
 * Imports `jwks.local` content (inline string or ConfigMap `jwks` value). Keys that Envoy
 * would drop are listed in `dropped`; zero surviving keys is still `ok` (requests then get
 * JWKS_NO_VALID_KEYS, as in Envoy). `error` is `cannot parse local jwks: …` when no format fits.
 */
export function importLocalJwks(text: string): LocalJwksResult {
  if (text.length > MAX_JWKS_INPUT_CHARS) {
    return { ok: false, error: `cannot parse local jwks: input is larger than ${MAX_JWKS_INPUT_CHARS} characters` };
  }
  const failures: string[] = [];

  const pem = importPemPublicKey(text);
  if (pem.ok) {
    const imported = importJwk(pem.jwk, LOCAL);
    return imported.ok
      ? { ok: true, keys: [imported.key], format: 'pem', dropped: [] }
      : { ok: true, keys: [], format: 'pem', dropped: [`PEM key: ${imported.reason}`] };
  }
  failures.push(`PEM: ${pem.reason}`);

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the input, which may be key material: say only that it failed.
    failures.push('JWKS: not valid JSON', 'JWK: not valid JSON');
    return { ok: false, error: `cannot parse local jwks: ${failures.join('; ')}` };
  }

  const list = isObject(json) ? json.keys : undefined;
  if (Array.isArray(list) && list.length > 0) {
    // kgateway reads the set with go-jose, which fails the whole set on one unreadable key.
    const set = importKeyList(list, LOCAL);
    if (set.malformed.length === 0) return { ok: true, format: 'jwks', keys: set.keys, dropped: set.dropped };
    failures.push(`JWKS: ${set.malformed.join('; ')}`);
  } else {
    failures.push(isObject(json) ? 'JWKS: no keys in set' : 'JWKS: not a JSON object');
  }

  const single = importJwk(json, LOCAL);
  if (single.ok) return { ok: true, keys: [single.key], format: 'jwk', dropped: [] };
  if (!single.malformed) return { ok: true, keys: [], format: 'jwk', dropped: [`JWK: ${single.reason}`] };
  failures.push(`JWK: ${single.reason}`);
  return { ok: false, error: `cannot parse local jwks: ${failures.join('; ')}` };
}

/**
 * Reads a JWKS document (already JSON-parsed) with jwks.cc rules: `keys` must be an array,
 * invalid entries are dropped. With `allowX509Map` (remote JWKS only), a document without
 * `keys` whose values are all PEM certificates is read as Google's `{kid: cert}` format.
 * Zero surviving keys is `ok` with `keys: []`; a remote caller treats that as a failed fetch.
 */
export function parseJwksDocument(json: unknown, opts: { allowX509Map: boolean }): JwksDocumentResult {
  if (!isObject(json)) return { ok: false, error: 'JWKS is not a JSON object' };
  if (!Object.hasOwn(json, 'keys')) {
    if (opts.allowX509Map && isX509Map(json)) {
      const keys: ImportedKey[] = [];
      const dropped: string[] = [];
      let more = 0;
      for (const [kid, pem] of Object.entries(json)) {
        const r = importX509(kid, pem as string);
        if (r.ok) keys.push(r.key);
        else if (dropped.length < MAX_DROPPED_REASONS) dropped.push(`kid ${quoteValue(kid)}: ${r.reason}`);
        else more++;
      }
      if (more > 0) dropped.push(`and ${more} more entr${more === 1 ? 'y' : 'ies'} dropped`);
      return { ok: true, keys, dropped };
    }
    return { ok: false, error: 'JWKS has no "keys" member' };
  }
  if (!Array.isArray(json.keys)) return { ok: false, error: 'JWKS "keys" is not an array' };
  const set = importKeyList(json.keys, REMOTE);
  return { ok: true, keys: set.keys, dropped: set.dropped };
}

/**
 * `local`: the key comes from `jwks.local`, which kgateway first reads with go-jose; that also
 * refuses an EC key without `crv` (Envoy's jwks.cc, which reads remote sets, takes P-256).
 */
const LOCAL = true;
const REMOTE = false;

/** Reasons kept per key set for the dropped entries; the rest are counted in one last line. */
export const MAX_DROPPED_REASONS = 10;

/**
 * jwks.cc: each entry on its own; entries that are not usable keys are dropped (`dropped`
 * names the first MAX_DROPPED_REASONS, then one line counts the rest: a document of 300,000
 * `{}` entries must not become 300,000 log lines; `malformed` the first entry go-jose cannot
 * read at all, if any).
 */
function importKeyList(list: readonly unknown[], local: boolean): { keys: ImportedKey[]; dropped: string[]; malformed: string[] } {
  const keys: ImportedKey[] = [];
  const dropped: string[] = [];
  const malformed: string[] = [];
  let more = 0;
  list.forEach((entry, i) => {
    const r = importJwk(entry, local);
    if (r.ok) {
      keys.push(r.key);
      return;
    }
    if (dropped.length >= MAX_DROPPED_REASONS && (malformed.length > 0 || !r.malformed)) {
      more++;
      return;
    }
    const what = `keys[${i}]${describeKid(entry)}: ${r.reason}`;
    if (dropped.length < MAX_DROPPED_REASONS) dropped.push(what);
    else more++;
    if (r.malformed && malformed.length === 0) malformed.push(what);
  });
  if (more > 0) dropped.push(`and ${more} more entr${more === 1 ? 'y' : 'ies'} dropped`);
  return { keys, dropped, malformed };
}

// --- one JWK (jwks.cc extractJwk) ------------------------------------------------------------

function importJwk(jwk: unknown, local: boolean): JwkImport {
  if (!isObject(jwk)) return malformed('not a JSON object');
  const kid = jwk.kid;
  if (kid !== undefined && typeof kid !== 'string') return malformed('"kid" is not a string');
  const alg = jwk.alg;
  if (alg !== undefined && typeof alg !== 'string') return malformed('"alg" is not a string');
  const kty = jwk.kty;
  if (kty === undefined) return malformed('"kty" is missing');
  if (typeof kty !== 'string') return malformed('"kty" is not a string');
  switch (kty) {
    case 'RSA': return importRsa(jwk, kid, alg);
    case 'EC': return importEc(jwk, kid, alg, local);
    case 'oct': return importOct(jwk, kid, alg);
    case 'OKP': return importOkp(jwk, kid, alg);
    default: return malformed(`"kty" ${quoteValue(kty)} is not supported (RSA, EC, oct, OKP)`);
  }
}

function importRsa(jwk: Record<string, unknown>, kid: string | undefined, alg: string | undefined): JwkImport {
  if (alg !== undefined && !(alg.startsWith('RS') || alg.startsWith('PS'))) return dropRule(`RSA key with "alg" ${quoteValue(alg)} (must be RS* or PS*)`);
  const n = member(jwk, 'n');
  if (typeof n !== 'string') return n;
  const e = member(jwk, 'e');
  if (typeof e !== 'string') return e;
  const key = publicKeyFromJwk({ kty: 'RSA', n, e });
  if (!key) return malformed('RSA "n"/"e" do not form a public key');
  // jwks.cc (createRsaFromJwk) takes only the exponents 3 and 65537.
  const exponent = key.asymmetricKeyDetails?.publicExponent;
  if (exponent !== 3n && exponent !== 65537n) return dropRule('RSA "e" is not 3 or 65537 (the only exponents Envoy accepts)');
  return done('RSA', key, kid, alg, undefined);
}

function importEc(jwk: Record<string, unknown>, kid: string | undefined, alg: string | undefined, local: boolean): JwkImport {
  if (alg !== undefined && !alg.startsWith('ES')) return dropRule(`EC key with "alg" ${quoteValue(alg)} (must be ES*)`);
  const rawCrv = jwk.crv;
  if (rawCrv !== undefined && rawCrv !== 'P-256' && rawCrv !== 'P-384' && rawCrv !== 'P-521') {
    // go-jose reads secp256k1 keys; jwks.cc drops them.
    const reason = 'EC "crv" is not one of P-256, P-384, P-521';
    return rawCrv === 'secp256k1' ? dropRule(reason) : malformed(reason);
  }
  if (rawCrv === undefined && local) return malformed('EC "crv" is missing');
  if (alg !== undefined && rawCrv !== undefined && EC_CURVE_OF_ALG[alg] !== rawCrv) {
    return dropRule(`EC "crv" ${quoteValue(String(rawCrv))} does not agree with "alg" ${quoteValue(alg)}`);
  }
  // jwks.cc: no alg and no crv means P-256; otherwise the alg implies the curve.
  const crv = rawCrv ?? (alg === undefined ? 'P-256' : EC_CURVE_OF_ALG[alg]);
  if (crv === undefined) return dropRule(`EC "alg" ${quoteValue(alg!)} names no supported curve`);
  const x = member(jwk, 'x');
  if (typeof x !== 'string') return x;
  const y = member(jwk, 'y');
  if (typeof y !== 'string') return y;
  const key = publicKeyFromJwk({ kty: 'EC', crv, x, y });
  if (!key) return malformed(`EC "x"/"y" are not a point on ${crv}`);
  return done('EC', key, kid, alg, crv);
}

function importOct(jwk: Record<string, unknown>, kid: string | undefined, alg: string | undefined): JwkImport {
  if (alg !== undefined && alg !== 'HS256' && alg !== 'HS384' && alg !== 'HS512') return dropRule(`oct key with "alg" ${quoteValue(alg)} (must be HS256/384/512)`);
  // go-jose reads an oct key without `k` (or with an empty one); jwks.cc drops it.
  if (jwk.k === undefined || jwk.k === '') return dropRule('oct "k" is missing or empty');
  const k = member(jwk, 'k');
  if (typeof k !== 'string') return k;
  const bytes = decodeBase64Url(k);
  if (!bytes || bytes.length === 0) return malformed('oct "k" is not non-empty base64url');
  return done('oct', crypto.createSecretKey(bytes), kid, alg, undefined);
}

function importOkp(jwk: Record<string, unknown>, kid: string | undefined, alg: string | undefined): JwkImport {
  if (alg !== undefined && alg !== 'EdDSA') return dropRule(`OKP key with "alg" ${quoteValue(alg)} (must be EdDSA)`);
  const crv = jwk.crv;
  if (crv === undefined) return malformed('OKP "crv" is missing');
  if (crv !== 'Ed25519') return malformed('OKP "crv" is not Ed25519 (the only supported OKP curve)');
  const x = member(jwk, 'x');
  if (typeof x !== 'string') return x;
  // go-jose reads any length of `x` (it copies it into 32 bytes); jwks.cc drops the key.
  const raw = decodeBase64Url(x);
  if (!raw || raw.length !== 32) return dropRule('OKP "x" is not 32 bytes of base64url');
  const key = publicKeyFromJwk({ kty: 'OKP', crv: 'Ed25519', x });
  if (!key) return dropRule('OKP "x" is not an Ed25519 public key');
  return done('OKP', key, kid, alg, 'Ed25519');
}

/** A required string member, checked as base64url; a failure value otherwise. */
function member(jwk: Record<string, unknown>, name: string): string | JwkImport {
  const v = jwk[name];
  if (v === undefined) return malformed(`"${name}" is missing`);
  if (typeof v !== 'string') return malformed(`"${name}" is not a string`);
  if (!decodeBase64Url(v)) return malformed(`"${name}" is not base64url`);
  return v;
}

function publicKeyFromJwk(jwk: crypto.JsonWebKey): KeyObject | undefined {
  try {
    return crypto.createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function done(kty: KeyType, key: KeyObject, kid: string | undefined, alg: string | undefined, crv: string | undefined): JwkImport {
  const imported: ImportedKey = {
    kty,
    key,
    thumbprint: thumbprint(kty, key),
    ...(kid !== undefined ? { kid } : {}),
    ...(alg !== undefined ? { alg } : {}),
    ...(crv !== undefined ? { crv } : {}),
  };
  return { ok: true, key: Object.freeze(imported) };
}

function malformed(reason: string): JwkImport {
  return { ok: false, reason, malformed: true };
}

function dropRule(reason: string): JwkImport {
  return { ok: false, reason, malformed: false };
}

// --- PEM (kgateway parsePem: PKCS#1 first, then SPKI; alg hard-coded) -------------------------

type PemImport = { ok: true; jwk: Record<string, unknown> } | { ok: false; reason: string };

const PEM_BLOCK = /(?:^|\n)-----BEGIN ([^\n]*?)-----\r?\n([\s\S]*?)-----END \1-----/g;

function importPemPublicKey(text: string): PemImport {
  // Like Go's pem.Decode: the first well-formed block, whatever its type label.
  let der: Buffer | undefined;
  for (const m of text.matchAll(PEM_BLOCK)) {
    der = decodePemBody(m[2]!);
    if (der) break;
  }
  if (!der) return { ok: false, reason: 'no PEM block found' };
  const key = publicKeyFromDer(der, 'pkcs1') ?? publicKeyFromDer(der, 'spki');
  if (!key) return { ok: false, reason: 'PEM block is neither a PKCS#1 nor a PKIX public key' };
  const jwk = exportJwk(key);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { ok: true, jwk: { ...jwk, alg: 'RS256', use: 'sig' } };
    case 'ec':
      // Every curve becomes ES256, so P-384/P-521 keys are later dropped for alg/crv mismatch, as in Envoy.
      if (!JWK_CURVE_OF_NODE_CURVE[key.asymmetricKeyDetails?.namedCurve ?? '']) return { ok: false, reason: 'PEM EC key on an unsupported curve' };
      return { ok: true, jwk: { ...jwk, alg: 'ES256', use: 'sig' } };
    case 'ed25519':
      return { ok: true, jwk: { ...jwk, alg: 'EdDSA', use: 'sig' } };
    default:
      return { ok: false, reason: 'unsupported public key; only RSA, ECDSA and Ed25519 public keys are supported in PEM format' };
  }
}

/**
 * Like x509.ParsePKCS1PublicKey / ParsePKIXPublicKey: a public key structure only. Node would
 * also derive a public key from private key DER, so the input must re-export byte for byte.
 */
function publicKeyFromDer(der: Buffer, type: 'pkcs1' | 'spki'): KeyObject | undefined {
  try {
    const key = crypto.createPublicKey({ key: der, format: 'der', type });
    return key.export({ format: 'der', type }).equals(der) ? key : undefined;
  } catch {
    return undefined;
  }
}

function decodePemBody(body: string): Buffer | undefined {
  // Encapsulated headers (RFC 1421 `Name: value` lines) precede a blank line; skip them.
  const lines = body.split(/\r?\n/);
  const blank = lines.indexOf('');
  const dataLines = lines.some((l) => l.includes(':')) && blank >= 0 ? lines.slice(blank + 1) : lines;
  const b64 = dataLines.join('').replace(/\s+/g, '');
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, 'base64');
}

function exportJwk(key: KeyObject): Record<string, unknown> {
  return key.export({ format: 'jwk' }) as Record<string, unknown>;
}

// --- Google x509 map (remote only) ------------------------------------------------------------

const CERT_PREFIX = '-----BEGIN CERTIFICATE-----';

function isX509Map(json: Record<string, unknown>): boolean {
  const values = Object.values(json);
  return values.length > 0 && values.every((v) => typeof v === 'string' && v.trimStart().startsWith(CERT_PREFIX));
}

function importX509(kid: string, pem: string): JwkImport {
  let key: KeyObject;
  try {
    key = new crypto.X509Certificate(pem).publicKey;
  } catch {
    return malformed('not a parseable X.509 certificate');
  }
  // jwks.cc reads these certificates as RSA keys only.
  if (key.asymmetricKeyType !== 'rsa') return dropRule('certificate key is not RSA');
  return done('RSA', key, kid, undefined, undefined);
}

// --- helpers ------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeKid(entry: unknown): string {
  return isObject(entry) && typeof entry.kid === 'string' ? ` (kid ${quoteValue(entry.kid)})` : '';
}

/** Characters of a document-supplied value a message quotes; the rest are cut. */
export const QUOTED_VALUE_MAX_CHARS = 100;

/**
 * A value from a key document (a kid, an alg, a kty, a crv) for a message: quoted, and cut to
 * QUOTED_VALUE_MAX_CHARS with its full length after it. Every such value goes through here: a
 * document may carry values of any length, and a 904 KB JWKS of 90,000-character `alg` values made
 * one 450 KB warning at every retry (and a `/config_dump` `lastFailure` as large).
 */
export function quoteValue(value: string): string {
  return value.length > QUOTED_VALUE_MAX_CHARS ? `${JSON.stringify(value.slice(0, QUOTED_VALUE_MAX_CHARS))}${cutMark(value)}` : JSON.stringify(value);
}

/** `value` unquoted, cut as quoteValue cuts it (for a list of kids in a log line). */
export function cutValue(value: string): string {
  return value.length > QUOTED_VALUE_MAX_CHARS ? `${value.slice(0, QUOTED_VALUE_MAX_CHARS)}${cutMark(value)}` : value;
}

const cutMark = (value: string): string => `…(${value.length} characters)`;

// Salt for oct thumbprints: a plain digest of a weak shared secret would let anyone reading the
// logs confirm guesses offline, so oct digests are keyed per process (stable only within it).
// Each thread loads this module anew: the JWKS refresher thread gets the main thread's salt in its
// workerData (refresher.ts), so the thumbprints it reports stay the same across its restarts.
const OCT_THUMBPRINT_SALT: Buffer = (() => {
  const given = (workerData as { octThumbprintSalt?: unknown } | null)?.octThumbprintSalt;
  return !isMainThread && given instanceof Uint8Array && given.length >= 16 ? Buffer.from(given) : crypto.randomBytes(32);
})();

/** This thread's oct thumbprint salt (the main thread's is the process's). */
export function octThumbprintSalt(): Buffer {
  return OCT_THUMBPRINT_SALT;
}

/** First 16 characters of the RFC 7638 thumbprint (SHA-256, base64url); oct keys: keyed digest. */
function thumbprint(kty: KeyType, key: KeyObject): string {
  if (kty === 'oct') {
    return 'oct-' + crypto.createHmac('sha256', OCT_THUMBPRINT_SALT).update(key.export()).digest('base64url').slice(0, 12);
  }
  const jwk = exportJwk(key);
  // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
  const canonical =
    kty === 'RSA' ? { e: jwk.e, kty: 'RSA', n: jwk.n }
    : kty === 'EC' ? { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y }
    : { crv: jwk.crv, kty: 'OKP', x: jwk.x };
  return crypto.createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 16);
}
