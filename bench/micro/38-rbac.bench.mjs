// TrafficPolicy rbac (dist/src/auth/rbac.js): building a request's CEL activation (Envoy's
// attributes and jwt_authn's metadata) and evaluating typical expressions, per request on the
// routes that have an rbac policy.
export default async function (b) {
  b.section('rbac (CEL)');
  const mod = await b.dist('src/auth/rbac.js');
  if (!mod?.compileExpression || !mod?.activation || !mod?.rbacAllows) {
    b.skip('rbac', b.why || 'rbac API not found');
    return;
  }
  const req = {
    method: 'GET', path: '/api/v1/items', query: 'page=2', host: 'www.example.com', authority: 'www.example.com:8080', scheme: 'http', remoteAddress: '10.0.0.1',
    headers: ['accept', '*/*', 'user-agent', 'curl/8.5', 'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-request-id', '0b5c9f4e-7c2e-4d7e-9d55-3f8a2f0c1a11', 'x-team', 'dev', 'x-org', 'solo.io'],
  };
  const claims = { iss: 'https://issuer.bench.jwtgate.local', sub: 'alice', team: 'dev', org: 'solo.io', roles: ['reader', 'admin'], exp: 1999999999 };
  const compile = (e) => {
    const c = mod.compileExpression(e);
    if (!c.ok) throw new Error(`${e}: ${c.error}`);
    return c.match;
  };
  const P = "metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload']";
  const claim = compile(`${P}['team'] == 'dev'`);
  const header = compile("request.headers['x-team'] == 'dev' && request.method == 'GET'");
  const list = compile(`'admin' in ${P}['roles']`);
  const regex = compile("request.url_path.matches('^/api/v[0-9]+/')");
  b.sync('activation (request attributes + jwt_authn metadata)', () => mod.activation(req, claims, false));
  const vars = mod.activation(req, claims, false);
  b.sync("claim == 'dev' (one expression, activation built)", () => claim(vars));
  b.sync("header == 'dev' && method == 'GET'", () => header(vars));
  b.sync("'admin' in claim list", () => list(vars));
  b.sync('url_path.matches(RE2)', () => regex(vars));
  const policy = { action: 'Allow', expressions: [claim], origin: 'bench' };
  b.sync('rbacAllows: Allow, one claim expression (activation + evaluation)', () => mod.rbacAllows(policy, req, claims, false));
}
