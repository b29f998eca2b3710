// `jwtgate check`'s text (report.ts): errors before warnings, singular counts, names and
// messages that read as something else in YAML quoted, and C1 control characters escaped too
// (found by mutation testing).
import test from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigProblem } from '../../src/errors.js';
import { formatCheckReport, hasErrors } from '../../src/config/report.js';

const warning: ConfigProblem = { resource: 'Backend/default/w', path: 'spec.x', message: 'a warning', severity: 'warning', source: 'w.yaml:3' };
const error: ConfigProblem = { resource: 'Backend/default/e', path: 'spec.y', message: 'an error', severity: 'error', source: 'e.yaml:4' };

test('check report: errors are listed before warnings, and one of each is counted in the singular', () => {
  const text = formatCheckReport({
    statuses: [{ resource: 'Backend/default/e', source: 'e.yaml:1', conditions: [{ type: 'Accepted', status: 'False', reason: 'Invalid', message: 'an error' }] }],
    problems: [warning, error],
  });
  const lines = text.split('\n');
  const e = lines.findIndex((l) => l.startsWith('  error   Backend/default/e spec.y  (e.yaml:4)'));
  const w = lines.findIndex((l) => l.startsWith('  warning Backend/default/w spec.x  (w.yaml:3)'));
  assert.ok(e > 0 && w > e, text);
  assert.match(text, /\n1 resource, 1 error, 1 warning\n$/);
  assert.equal(hasErrors([warning]), false);
  assert.equal(hasErrors([warning, error]), true);
});

test('check report: a condition message or ancestor name YAML would read otherwise is quoted; C1 control characters are escaped', () => {
  const text = formatCheckReport({
    statuses: [
      {
        resource: 'TrafficPolicy/default/p',
        conditions: [{ type: 'Accepted', status: 'False', reason: 'Invalid', message: 'spec: bad\u009b2J' }],
        ancestors: [
          { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'true', namespace: '123' },
          { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'g\u009b', namespace: 'default' },
        ],
      },
    ],
    problems: [{ ...error, message: 'x\u009b2Jy' }],
  });
  assert.match(text, /\n {8}name: "true"\n {8}namespace: "123"\n/);
  assert.match(text, /\n {8}name: "g\\u009b"\n/);
  assert.match(text, /\n {8}message: "spec: bad\\u009b2J"\n/);
  assert.match(text, /\n {10}x\\u009b2Jy\n/);
  assert.ok(!/[\u0080-\u009f]/.test(text), 'no raw C1 character');
});
