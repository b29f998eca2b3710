// DirectResponse bodyFormat as the configuration loader reads it (src/config/validate-misc.ts):
// what YAML can put in a JSON template beyond plain values, and the review's findings.
import test from 'node:test';
import assert from 'node:assert/strict';
import { compileText } from '../../src/config/build.js';
import { renderBody } from '../../src/proxy/body-format.js';
import type { GatewayRequest } from '../../src/http/exchange.js';
import { validateDirectResponse } from '../../src/config/validate-misc.js';
import { loadManifestsFromText } from '../../src/config/load.js';

const dr = (spec: string) => `apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: { name: dr, namespace: default }
spec:
${spec}`;

const errors = (text: string) =>
  compileText(text, { generation: 1 })
    .problems.filter((p) => p.severity === 'error')
    .map((p) => `${p.path}: ${p.message}`);

test('a YAML tag that makes something other than a plain value (!!binary bytes, !!set) is refused at its path; !!timestamp too', () => {
  assert.match(errors(dr('  status: 200\n  bodyFormat:\n    json: { raw: !!binary aGVsbG8= }\n')).join('\n'), /spec\.bodyFormat\.json\.raw: Invalid value: a JSON template holds strings, numbers, booleans, null, lists and objects/);
  assert.match(errors(dr('  status: 200\n  bodyFormat:\n    json: { s: !!set { a, b } }\n')).join('\n'), /spec\.bodyFormat\.json\.s: Invalid value: a JSON template holds/);
  assert.deepEqual(errors(dr('  status: 200\n  bodyFormat:\n    json: { ok: [1, "x"] }\n')), []);
});

test('%ENVIRONMENT(X)% with a newline is refused in a header rule and written as it is in a body (Envoy writes the variable); a long contentType is only warned about', () => {
  process.env.JWTGATE_BODY_TEST = 'line1\nline2';
  try {
    const raw = loadManifestsFromText(dr('  status: 200\n  bodyFormat:\n    text: "v=%ENVIRONMENT(JWTGATE_BODY_TEST)%"\n    contentType: ' + 'x'.repeat(300) + '\n'), 'f.yaml').resources[0]!;
    const problems: import('../../src/errors.js').ConfigProblem[] = [];
    const model = validateDirectResponse(raw, problems);
    assert.equal(model.valid, true, JSON.stringify(problems));
    const req = { headers: [], method: 'GET', path: '/', query: '', host: 'h', authority: 'h', remoteAddress: '127.0.0.1', scheme: 'http' } as unknown as GatewayRequest;
    assert.equal(renderBody(model.bodyFormat!, req, performance.now()), 'v=line1\nline2');
  } finally {
    delete process.env.JWTGATE_BODY_TEST;
  }
});
