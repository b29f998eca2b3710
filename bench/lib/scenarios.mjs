// The scenarios. `jwtOnly` scenarios run against JWT peers only; the proxy-only references
// (upstream direct, nginx) run `cache-hit` (the same request, token ignored) and the fixed-rate runs.
// token: a key of the tokens object (one token for the whole run); tokens: a key of tokens.sets
// (distinct tokens rotated per request); neither: no Authorization header.

export function scenarios(env) {
  const rates = (env.BENCH_RATES ?? '2000,10000').split(',').map(Number).filter((n) => n > 0);
  const fixedToken = env.BENCH_FIXED_TOKENS === 'rotate' ? { tokens: 'rs256' } : { token: 'rs256' };
  return [
    {
      name: 'cache-hit',
      kind: 'closed',
      jwtOnly: false,
      token: 'rs256',
      expect: 200,
      about: 'one valid RS256 token on every request (a verification cache, where a peer has one, always hits); for nginx/upstream this is the plain proxied request',
    },
    {
      name: 'cache-miss-rs256',
      kind: 'closed',
      jwtOnly: true,
      tokens: 'rs256',
      expect: 200,
      about: 'N distinct valid RS256 tokens (different jti), the next one on every request',
    },
    {
      name: 'cache-miss-es256',
      kind: 'closed',
      jwtOnly: true,
      tokens: 'es256',
      expect: 200,
      about: 'N distinct valid ES256 tokens, the next one on every request',
    },
    {
      name: 'missing-token',
      kind: 'closed',
      jwtOnly: true,
      expect: 401,
      about: 'no Authorization header: the 401 path',
    },
    {
      name: 'invalid-signature',
      kind: 'closed',
      jwtOnly: true,
      tokens: 'rs256Tampered',
      expect: 401,
      about: 'N distinct RS256 tokens whose signature was altered (well-formed, valid claims): every one needs a real signature check that fails',
    },
    ...rates.map((rate) => ({
      name: `fixed-rate-${rate}`,
      kind: 'open',
      rate,
      jwtOnly: false,
      ...fixedToken,
      expect: 200,
      about: `open loop at ${rate} req/s, latency from each request's intended send time (${fixedToken.tokens ? 'distinct RS256 tokens rotated' : 'one valid RS256 token'})`,
    })),
  ];
}
