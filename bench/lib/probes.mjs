// Correctness probes, run against a peer before each of its measurements: a peer (or a scenario)
// whose probes fail is not measured, so a 401 can never be counted as throughput.
import { httpGet } from './proc.mjs';

function headerOf(body, name) {
  try {
    const h = JSON.parse(body).headers ?? {};
    for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(',') : String(v);
  } catch {
    /* not JSON */
  }
  return undefined;
}

async function check(url, name, token, expect, { claims = false, proxied = false } = {}) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  let r;
  try {
    r = await httpGet(`${url}/headers`, { headers, timeoutMs: 5000 });
  } catch (err) {
    return { name, ok: false, expect, got: `error: ${err.message}` };
  }
  const statuses = Array.isArray(expect) ? expect : [expect];
  let ok = statuses.includes(r.status);
  let got = String(r.status);
  // A 200 must come from the upstream (its echo of the request headers), not from the peer.
  if (ok && (claims || proxied) && headerOf(r.body, 'host') === undefined) {
    ok = false;
    got += ' but the body is not the upstream\'s echo';
  }
  if (ok && claims) {
    const team = headerOf(r.body, 'x-team');
    const org = headerOf(r.body, 'x-org');
    if (team !== 'dev' || org !== 'solo.io') {
      ok = false;
      got += ` but upstream saw x-team=${team} x-org=${org}`;
    }
  }
  if (!ok && r.body) got += ` (${r.body.slice(0, 120).replace(/\s+/g, ' ')})`;
  return { name, ok, expect: statuses.join('|'), got };
}

/**
 * The base probe set. JWT peers: no token 401, valid RS256/ES256 200 with x-team/x-org forwarded,
 * tampered 401, expired 401, wrong issuer 401, wrong audience 401 or 403 (Envoy answers 403).
 * Proxy-only peers: a request with the valid token gets 200.
 */
export async function baseProbes(peer, url, t) {
  if (!peer.jwt) return [await check(url, 'proxied', t.rs256, 200, { proxied: true })];
  return Promise.all([
    check(url, 'no token', null, 401),
    check(url, 'valid RS256', t.rs256, 200, { claims: true }),
    check(url, 'valid ES256', t.es256, 200, { claims: true }),
    check(url, 'tampered RS256', t.rs256Tampered, 401),
    check(url, 'tampered ES256', t.es256Tampered, 401),
    check(url, 'expired', t.expired, 401),
    check(url, 'wrong issuer', t.wrongIssuer, [401, 403]),
    check(url, 'wrong audience', t.wrongAudience, [401, 403]),
  ]);
}

/** Scenario probes: a sample of the tokens the scenario will send must get its expected status. */
export async function scenarioProbes(peer, url, scenario, t) {
  const sample = [];
  if (scenario.tokens) {
    const list = t.sets[scenario.tokens];
    for (const i of [0, Math.floor(list.length / 2), list.length - 1]) sample.push(list[i]);
  } else {
    sample.push(scenario.token === undefined ? null : t[scenario.token]);
  }
  const claims = peer.jwt && scenario.expect === 200;
  const proxied = scenario.expect === 200;
  return Promise.all(sample.map((tok, i) => check(url, `${scenario.name} sample ${i + 1}`, tok, scenario.expect, { claims, proxied })));
}

export function failed(results) {
  return results.filter((r) => !r.ok);
}

/**
 * The verdict on one (peer, scenario)'s probes. A failed base probe (no token 401, valid 200 with
 * x-team/x-org, tampered 401, expired, wrong issuer or audience; a proxy-only peer's proxied
 * request) says the peer itself is wrong: `base` is then true and the peer is measured in no
 * scenario after it. A failed scenario probe, or a base probe that got no answer at all (a
 * timeout or a reset), only skips that scenario.
 */
export function probeVerdict(base, scenario) {
  // A base probe that got no answer (a timeout or a reset, as right after a peer was saturated at
  // 10,000 req/s) says nothing about the peer's correctness: that skips the scenario only.
  const baseBad = failed(base).filter((r) => !String(r.got).startsWith('error: '));
  const transient = failed(base).filter((r) => String(r.got).startsWith('error: '));
  const bad = [...baseBad, ...transient, ...failed(scenario)];
  if (!bad.length) return { ok: true, base: false, count: base.length + scenario.length };
  return { ok: false, base: baseBad.length > 0, failed: bad, reason: bad.map((p) => `${p.name}: expected ${p.expect}, got ${p.got}`).join('; ') };
}
