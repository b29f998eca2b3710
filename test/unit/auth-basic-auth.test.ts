// Envoy basic_auth's checks (basic_auth_filter.cc) on one user list: the scheme, strict base64,
// the first colon, byte-exact user names and the SHA-1 of the password.
import test from 'node:test';
import assert from 'node:assert/strict';
import { basicAuthDenial, basicAuthUserKey, decodeStrictBase64 } from '../../src/auth/basic-auth.js';

// user/password, colon/pa:ss, empty/'' and a UTF-8 name (ü) with password "password".
const users = new Map([
  [basicAuthUserKey('user'), 'W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
  [basicAuthUserKey('colon'), 'XyRLaTIb/WCdo8CuWc58gPVHl68='],
  [basicAuthUserKey('empty'), '2jmj7l5rSw0yVb/vlWAYkK/YBwk='],
  [basicAuthUserKey('jürgen'), 'W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
  [basicAuthUserKey('junk'), 'not base64 of anything at all'],
]);
const policy = { users };
const check = (...headers: string[]) => basicAuthDenial(policy, headers);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

test('no authorization header, another header', () => {
  assert.equal(check(), 'BASIC_AUTH_MISSING');
  assert.equal(check('proxy-authorization', `Basic ${b64('user:password')}`), 'BASIC_AUTH_MISSING');
});

test("the scheme is `Basic ` exactly: case, the space, a bare `Basic`", () => {
  assert.equal(check('authorization', `basic ${b64('user:password')}`), 'BASIC_AUTH_BAD_SCHEME');
  assert.equal(check('authorization', `BASIC ${b64('user:password')}`), 'BASIC_AUTH_BAD_SCHEME');
  assert.equal(check('authorization', `Basic\t${b64('user:password')}`), 'BASIC_AUTH_BAD_SCHEME');
  assert.equal(check('authorization', 'Basic'), 'BASIC_AUTH_BAD_SCHEME');
  assert.equal(check('authorization', `Bearer ${b64('user:password')}`), 'BASIC_AUTH_BAD_SCHEME');
});

test('the credentials: strict standard base64 holding a colon', () => {
  assert.equal(check('authorization', 'Basic '), 'BASIC_AUTH_BAD_FORMAT');
  assert.equal(check('authorization', `Basic  ${b64('user:password')}`), 'BASIC_AUTH_BAD_FORMAT');
  assert.equal(check('authorization', `Basic ${b64('userpassword')}`), 'BASIC_AUTH_BAD_FORMAT');
  assert.equal(check('authorization', `Basic ${b64('user:password').replace(/=+$/, '')}`), undefined);
  assert.equal(check('authorization', `Basic ${b64('user:password')} `), 'BASIC_AUTH_BAD_FORMAT');
  // URL-safe alphabet: not standard base64.
  assert.equal(check('authorization', `Basic ${Buffer.from('user:password??>').toString('base64url')}`), 'BASIC_AUTH_BAD_FORMAT');
});

test('user and password: split at the first colon, names compared byte for byte, the SHA-1 of the password', () => {
  assert.equal(check('authorization', `Basic ${b64('user:password')}`), undefined);
  assert.equal(check('authorization', `Basic ${b64('colon:pa:ss')}`), undefined);
  assert.equal(check('authorization', `Basic ${b64('empty:')}`), undefined);
  assert.equal(check('authorization', `Basic ${b64('jürgen:password')}`), undefined);
  assert.equal(check('authorization', `Basic ${b64('user:Password')}`), 'BASIC_AUTH_DENIED');
  assert.equal(check('authorization', `Basic ${b64('USER:password')}`), 'BASIC_AUTH_DENIED');
  assert.equal(check('authorization', `Basic ${b64(':password')}`), 'BASIC_AUTH_DENIED');
  assert.equal(check('authorization', `Basic ${b64('colon:pa')}`), 'BASIC_AUTH_DENIED');
  assert.equal(check('authorization', `Basic ${b64('junk:password')}`), 'BASIC_AUTH_DENIED');
  // The name's latin1 bytes are not its UTF-8 bytes.
  assert.equal(check('authorization', `Basic ${Buffer.from('jürgen:password', 'latin1').toString('base64')}`), 'BASIC_AUTH_DENIED');
});

test('the first authorization value is the one checked', () => {
  assert.equal(check('authorization', `Basic ${b64('user:wrong')}`, 'authorization', `Basic ${b64('user:password')}`), 'BASIC_AUTH_DENIED');
});

test("decodeStrictBase64: Envoy's decodeWithoutPadding", () => {
  assert.equal(decodeStrictBase64('YWJj')?.toString(), 'abc');
  assert.equal(decodeStrictBase64('YQ')?.toString(), 'a');
  assert.equal(decodeStrictBase64('YQ=')?.toString(), 'a');
  assert.equal(decodeStrictBase64('YQ==')?.toString(), 'a');
  assert.equal(decodeStrictBase64('YWI=')?.toString(), 'ab');
  assert.equal(decodeStrictBase64('+/+/')?.toString('hex'), 'fbffbf');
  assert.equal(decodeStrictBase64(''), undefined);
  assert.equal(decodeStrictBase64('=='), undefined);
  assert.equal(decodeStrictBase64('Y'), undefined);
  assert.equal(decodeStrictBase64('YQ==='), undefined);
  assert.equal(decodeStrictBase64('YR'), undefined, 'bits set past the last byte');
  assert.equal(decodeStrictBase64('YWJ'), undefined, 'bits set past the last byte');
  assert.equal(decodeStrictBase64('YW J'), undefined);
  assert.equal(decodeStrictBase64('-_-_'), undefined);
  assert.equal(decodeStrictBase64('YW=j'), undefined);
});
