// Keys and tokens shared by every peer: one RS256 (RSA 2048) and one ES256 (P-256) key pair
// generated at run time, exported as a JWKS (jwtgate), PEM public keys (HAProxy, fastify) and
// token files (load generators). Distinct tokens are minted in worker threads (RSA signing is the
// slow part: ~4k/s per core).
import crypto from 'node:crypto';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';

/** The claims every valid token carries and every peer checks. */
export const ISSUER = 'https://issuer.bench.jwtgate.local';
export const AUDIENCE = 'bench-api';
export const CLAIMS = { team: 'dev', org: 'solo.io' };
export const KIDS = { RS256: 'bench-rs256', ES256: 'bench-es256' };

const b64url = (v) => Buffer.from(v).toString('base64url');

function signWith(alg, key, input) {
  if (alg === 'RS256') return crypto.sign('sha256', Buffer.from(input), key);
  if (alg === 'ES256') return crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  throw new Error(`unsupported alg ${alg}`);
}

export function mint(alg, privateKey, payload, kid = KIDS[alg]) {
  const header = { alg, typ: 'JWT', kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(signWith(alg, privateKey, input))}`;
}

/** Valid claims; `over` replaces or adds fields. */
export function payload(over = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'bench-user', iat: now, exp: now + 4 * 3600, ...CLAIMS, ...over };
}

/**
 * Changes one character in the middle of the signature, so the token still parses but its
 * signature is wrong (the last character is avoided: its low bits may be padding).
 */
export function tamper(token) {
  const dot = token.lastIndexOf('.');
  const sig = token.slice(dot + 1);
  const i = Math.floor(sig.length / 2);
  const c = sig[i] === 'A' ? 'B' : 'A';
  return `${token.slice(0, dot + 1)}${sig.slice(0, i)}${c}${sig.slice(i + 1)}`;
}

/**
 * The tokens of the base probes (lib/probes.mjs baseProbes): one valid RS256 and one valid ES256
 * token, each also tampered, and RS256 tokens that are expired, from another issuer, for another
 * audience. `sets` and `files` are left for the scenarios' rotating token lists.
 */
export function probeTokens(keys) {
  const now = Math.floor(Date.now() / 1000);
  const t = {
    rs256: mint('RS256', keys.RS256.privateKey, payload({ jti: 'one-rs256' })),
    es256: mint('ES256', keys.ES256.privateKey, payload({ jti: 'one-es256' })),
    expired: mint('RS256', keys.RS256.privateKey, payload({ iat: now - 7200, exp: now - 3600 })),
    wrongIssuer: mint('RS256', keys.RS256.privateKey, payload({ iss: 'https://someone-else.example' })),
    wrongAudience: mint('RS256', keys.RS256.privateKey, payload({ aud: 'another-api' })),
    sets: {},
    files: {},
  };
  t.rs256Tampered = tamper(t.rs256);
  t.es256Tampered = tamper(t.es256);
  return t;
}

/** Generates both key pairs and writes PEM/JWKS files into `dir`. */
export function makeKeys(dir) {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys = {};
  for (const [alg, pair] of [['RS256', rsa], ['ES256', ec]]) {
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: KIDS[alg], alg, use: 'sig' };
    const pubPem = pair.publicKey.export({ format: 'pem', type: 'spki' });
    const privPem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' });
    const pubPemPath = path.join(dir, `${alg.toLowerCase()}-public.pem`);
    writeFileSync(pubPemPath, pubPem);
    keys[alg] = { alg, kid: KIDS[alg], privateKey: pair.privateKey, publicKey: pair.publicKey, privPem, pubPem, pubPemPath, jwk };
  }
  const jwks = { keys: [keys.RS256.jwk, keys.ES256.jwk] };
  const jwksPath = path.join(dir, 'jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwks));
  return { ...keys, jwks, jwksPath };
}

/**
 * Mints `count` distinct valid tokens for `alg` (distinct `jti`), in up to `threads` worker threads.
 * Returns an array of strings.
 */
export async function mintMany(key, count, { threads = Math.max(1, os.availableParallelism?.() ?? os.cpus().length), prefix = 'jti' } = {}) {
  const base = payload();
  const n = Math.max(1, Math.min(threads, Math.ceil(count / 500)));
  const per = Math.ceil(count / n);
  const parts = await Promise.all(
    Array.from({ length: n }, (_, w) => {
      const from = w * per;
      const to = Math.min(count, from + per);
      return new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), {
          workerData: { mint: true, alg: key.alg, kid: key.kid, privPem: key.privPem, base, from, to, prefix },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`mint worker exited ${code}`)));
      });
    }),
  );
  return parts.flat();
}

if (!isMainThread && workerData?.mint) {
  const { alg, kid, privPem, base, from, to, prefix } = workerData;
  const key = crypto.createPrivateKey(privPem);
  const out = [];
  for (let i = from; i < to; i++) out.push(mint(alg, key, { ...base, jti: `${prefix}-${alg}-${i}` }, kid));
  parentPort.postMessage(out);
}
