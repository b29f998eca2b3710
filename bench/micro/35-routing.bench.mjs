// Route selection (dist/src/routing/match.js selectRoute) on hand-built tables: the default
// config's single catch-all, and 1,000 routes on one host that each match on a query parameter,
// with a short query and with a 60 KB one (each request's query is read once, however many
// routes look at it).
export default async function (b) {
  b.section('route selection');
  const mod = await b.dist('src/routing/match.js');
  if (!mod?.selectRoute) {
    b.skip('selectRoute', b.why || 'selectRoute not exported');
    return;
  }
  const route = (id, o = {}) => ({
    id,
    route: `bench/${id}`,
    path: { type: 'PathPrefix', value: o.prefix ?? '/' },
    headers: [],
    queryParams: o.queryParams ?? [],
    auth: { jwt: [], origins: [], disabled: false },
    claimHeaders: [],
    backends: [],
    totalWeight: 0,
  });
  const table = (routes) => ({ port: 8080, listeners: [{ gateway: 'bench/gw', name: 'http', port: 8080, routes: { exact: new Map([['www.example.com', routes]]), wildcard: [], any: [] } }] });
  const req = (path, query) => ({ method: 'GET', path, query, host: 'www.example.com', authority: 'www.example.com', headers: ['user-agent', 'bench'], remoteAddress: '127.0.0.1', scheme: 'http' });
  const catchAll = table([route('all')]);
  const r1 = req('/headers', '');
  b.sync('selectRoute: one catch-all route (the default config)', () => mod.selectRoute(catchAll, r1));
  const many = table(Array.from({ length: 1000 }, (_, i) => route(`t${i}`, { prefix: '/api', queryParams: [{ name: 'tenant', type: 'Exact', value: `t${i}` }] })));
  const short = req('/api', 'tenant=t999');
  if (mod.selectRoute(many, short)?.route.id !== 't999') {
    b.skip('selectRoute: 1,000 query-matching routes', 'fixture did not select t999');
    return;
  }
  b.sync('selectRoute: 1,000 query-matching routes, the last matches, short query', () => mod.selectRoute(many, short));
  const long = req('/api', `${'&'.repeat(60_000)}tenant=t999`);
  b.sync('selectRoute: 1,000 query-matching routes, the last matches, 60 KB query', () => mod.selectRoute(many, long));
}
