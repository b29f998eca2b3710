// A JWKS URL as logs and /config_dump show it: an API key in its query or a password in it is
// never written out.
import test from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, redactUrlText } from '../../src/jwks/remote-fetch.js';
import { configDump } from '../../src/config/dump.js';
import { compileText } from '../../src/config/build.js';

test('query values, user name and password are redacted, a fragment dropped; host, path and valued parameter names kept', () => {
  assert.equal(redactUrl('https://idp.example.com/jwks'), 'https://idp.example.com/jwks');
  assert.equal(redactUrl('https://idp.example.com/jwks?key=s3cr3t&key=two&tenant=a'), 'https://idp.example.com/jwks?key=redacted&tenant=redacted');
  assert.equal(redactUrl('https://user:pa55@idp.example.com/jwks'), 'https://redacted:redacted@idp.example.com/jwks');
  assert.equal(redactUrl('not a url'), 'not a url');
  assert.equal(redactUrl('https://SECRETTOKEN@idp.example.com/jwks'), 'https://redacted@idp.example.com/jwks');
  assert.equal(redactUrl('https://idp.example.com/jwks?SECRETONLY'), 'https://idp.example.com/jwks?redacted=redacted');
  assert.equal(redactUrl('https://idp.example.com/jwks#SECRET'), 'https://idp.example.com/jwks');
  // Unparsable: hidden by position.
  assert.equal(redactUrl('https://user:pa55@idp example.com/jwks?key=s3cr3t#x'), 'https://redacted@idp example.com/jwks?redacted');
  assert.equal(redactUrl('https://$HOST:$PORT/jwks'), 'https://$HOST:$PORT/jwks');
});

test('text that is not a usable URL: user info, query and fragment hidden by position', () => {
  // Parses with `svc-account:` as its scheme, so the parser would not see a password.
  assert.equal(redactUrlText('svc-account:Pa55w0rd@idp.example.com/certs?api_key=K'), 'redacted@idp.example.com/certs?redacted');
  assert.equal(redactUrlText('ftp://u:p@host/x'), 'ftp://redacted@host/x');
  assert.equal(redactUrlText('user@host/a@b'), 'redacted@host/a@b', 'an @ before any / ? # ends the user info');
  assert.equal(redactUrlText('https://host/a@b'), 'https://host/a@b');
  assert.equal(redactUrlText('https://host/x?'), 'https://host/x?');
});

test('/config_dump shows the redacted URL', () => {
  const s = compileText(
    `apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: { name: ext, namespace: default }
spec:
  jwt:
    providers:
    - name: p
      jwks: { remote: { url: 'http://idp.example.com/jwks?api_key=s3cr3t', backendRef: { group: gateway.kgateway.dev, kind: Backend, name: idp } } }
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: { name: idp, namespace: default }
spec: { type: Static, static: { hosts: [{ host: 127.0.0.1, port: 9 }] } }
`,
    { generation: 1 },
  );
  const dump = JSON.stringify(configDump(s));
  assert.ok(dump.includes('http://idp.example.com/jwks?api_key=redacted'), dump);
  assert.ok(!dump.includes('s3cr3t'));
});
