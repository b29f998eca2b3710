// fastify 5 + @fastify/jwt (fast-jwt) + @fastify/reply-from protecting the bench upstream:
// an onRequest hook verifies the bearer token (RS256 or ES256 by the token's alg, iss/aud/exp
// checked by fast-jwt: exp required, nbf checked when present, no clock tolerance), then every route is proxied with reply-from, adding x-team / x-org from
// the verified claims.
//
//   node bench/peers/fastify-peer.mjs --port N --upstream http://127.0.0.1:U \
//     --rs256-pem FILE --es256-pem FILE --issuer ISS --audience AUD [--cache SIZE]
//
// --cache 0 (default) disables fast-jwt's verification cache; --cache 1000 is fast-jwt's
// `cache: true` default size. One process, as a typical deployment of a Node gateway.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import fastifyJwt from '@fastify/jwt';
import replyFrom from '@fastify/reply-from';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
    'rs256-pem': { type: 'string' },
    'es256-pem': { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    cache: { type: 'string', default: '0' },
  },
});
const cacheSize = Number(values.cache) || 0;
const keys = { RS256: readFileSync(values['rs256-pem'], 'utf8'), ES256: readFileSync(values['es256-pem'], 'utf8') };

const app = Fastify({ logger: false, keepAliveTimeout: 120_000, requestTimeout: 0, return503OnClosing: false });

await app.register(fastifyJwt, {
  // The key is chosen by the token's alg; @fastify/jwt keeps one fast-jwt verifier (and cache) per key.
  // (A function secret must call back: @fastify/jwt ignores a plain return value.)
  // decode.complete makes the token handed to it carry its header (alg).
  secret: { public: (_request, token, cb) => cb(null, keys[token?.header?.alg] ?? keys.RS256) },
  decode: { complete: true },
  verify: {
    algorithms: ['RS256', 'ES256'],
    allowedIss: values.issuer,
    allowedAud: values.audience,
    requiredClaims: ['exp'],
    cache: cacheSize > 0 ? cacheSize : false,
  },
});

await app.register(replyFrom, {
  base: values.upstream,
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 120_000 },
});

app.addHook('onRequest', async (request, reply) => {
  try {
    await request.jwtVerify();
  } catch (err) {
    const missing = err?.code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER';
    reply
      .code(401)
      .header('www-authenticate', missing ? 'Bearer realm="bench"' : 'Bearer realm="bench", error="invalid_token"')
      .type('text/plain')
      .send(missing ? 'Jwt is missing' : 'Jwt verification fails');
    return reply;
  }
});

const proxy = (request, reply) =>
  reply.from(request.url, {
    rewriteRequestHeaders: (_req, headers) => ({ ...headers, 'x-team': String(request.user.team ?? ''), 'x-org': String(request.user.org ?? '') }),
  });
app.all('/', proxy);
app.all('/*', proxy);

await app.listen({ port: Number(values.port), host: values.host });
process.stdout.write(`listening ${app.server.address().port}\n`);
const stop = () => app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
