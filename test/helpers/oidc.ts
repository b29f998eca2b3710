// A real OpenID provider (panva/oidc-provider) on loopback, shaped like the seed's Keycloak:
// issuer http://127.0.0.1:PORT/realms/master, JWKS at …/protocol/openid-connect/certs, tokens
// from …/protocol/openid-connect/token with the client_credentials grant, issued as RS256 JWT
// access tokens (aud https://api.example.com). Its signing keys can be rotated while it runs
// (a new Provider with the same issuer takes over the socket). Counts JWKS requests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SigningKey } from './signing-keys.js';

export const REALM = '/realms/master';
export const JWKS_ROUTE = `${REALM}/protocol/openid-connect/certs`;
const TOKEN_ROUTE = `${REALM}/protocol/openid-connect/token`;
export const AUDIENCE = 'https://api.example.com';
const CLIENT = { id: 'gateway-tests', secret: 'not-a-real-secret-but-long-enough-0123456789' };

export interface OidcServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` (the seed's $KEYCLOAK_URL). */
  readonly baseUrl: string;
  readonly issuer: string;
  readonly jwksUrl: string;
  /** JWKS requests received. */
  jwksFetches(): number;
  /** A fresh access token (client_credentials), signed with the first key of the current set. */
  token(): Promise<string>;
  /** Publishes `keys` (private JWKs; the first one signs new tokens). */
  rotate(keys: readonly SigningKey[]): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

// oidc-provider warns on import and on construction (Node 20 is not its preferred runtime, the
// in-memory adapter is for development): expected here, so kept out of the test output.
async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const warn = console.warn;
  const info = console.info;
  const log = console.log;
  console.warn = console.info = console.log = () => {};
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
    console.log = log;
  }
}

export async function startOidcProvider(keys: readonly SigningKey[]): Promise<OidcServer> {
  const { default: Provider } = await quietly(() => import('oidc-provider'));
  let handler: Handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  let jwksFetches = 0;
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] === JWKS_ROUTE) jwksFetches++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const issuer = `${baseUrl}${REALM}`;
  const build = (signing: readonly SigningKey[]) =>
    quietly(() => {
      const provider = new Provider(issuer, {
        clients: [{ client_id: CLIENT.id, client_secret: CLIENT.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
        jwks: { keys: signing.map((k) => k.privateJwk) },
        routes: { jwks: JWKS_ROUTE, token: TOKEN_ROUTE },
        features: {
          devInteractions: { enabled: false },
          clientCredentials: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => AUDIENCE,
            getResourceServerInfo: () => ({ scope: 'api:read', audience: AUDIENCE, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
          },
        },
        ttl: { ClientCredentials: 600 },
      });
      return provider.callback();
    });
  handler = await build(keys);
  return {
    port,
    baseUrl,
    issuer,
    jwksUrl: `${baseUrl}${JWKS_ROUTE}`,
    jwksFetches: () => jwksFetches,
    async token() {
      const res = await fetch(`${baseUrl}${TOKEN_ROUTE}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=api:read',
      });
      const body = (await res.json()) as { access_token?: string };
      if (res.status !== 200 || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async rotate(next) {
      handler = await build(next);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
