// Which keys of a key set may verify a token: jwt_verify_lib verify.cc's candidate rule
// (spec §4.5). Pure and allocation-free; it does not verify anything (verify-signature.ts does).

/**
 * True when `key` is a candidate for a token with header `kid` ('' when absent) and `alg`:
 * the token has no kid, or the key has none, or they are equal; and the key has no alg or the
 * same alg. Keys are tried in key-set order, so with no kid every candidate is tried.
 */
export function isCandidateKey(key: { readonly kid?: string; readonly alg?: string }, kid: string, alg: string): boolean {
  return (kid === '' || !key.kid || key.kid === kid) && (!key.alg || key.alg === alg);
}
