// The fields a request names in Connection, removed when it is read, as Envoy's HTTP/1 codec does
// (Http::Utility::sanitizeConnectionHeader): which go, which stay, and which nominations make it
// refuse the request.
import test from 'node:test';
import assert from 'node:assert/strict';
import { removeNominatedFields } from '../../src/http/connection-header.js';

/** removeNominatedFields on a copy of `headers`, with their Connection fields joined as the server joins them. */
function nominate(headers: readonly string[]): { ok: boolean; headers: string[] } {
  const list = [...headers];
  const values: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] === 'connection') values.push(list[i + 1]!);
  return { ok: removeNominatedFields(list, values.join(',')), headers: list };
}

test('every field a member names is removed, from every Connection field, whatever its case; options and empty members name nothing', () => {
  const { ok, headers } = nominate(['connection', 'close', 'connection', 'X-A', 'x-a', '1', 'x-a', '2', 'x-b', '2', 'close', 'not-a-field', 'connection', ' ,Keep-Alive, upgrade ,http2-settings,,', 'keep-alive', 'timeout=5']);
  assert.equal(ok, true);
  assert.deepEqual(headers, ['connection', 'close', 'connection', 'X-A', 'x-b', '2', 'close', 'not-a-field', 'connection', ' ,Keep-Alive, upgrade ,http2-settings,,', 'keep-alive', 'timeout=5']);
});

test('the fields that steer the request once read are removed too, so no route match or JWT check sees them: authorization, cookie, a claim header a client sent', () => {
  const { ok, headers } = nominate(['authorization', 'Bearer t', 'cookie', 'a=1', 'x-team', 'forged', 'connection', 'authorization, cookie, x-team', 'x-keep', '1']);
  assert.equal(ok, true);
  assert.deepEqual(headers, ['connection', 'authorization, cookie, x-team', 'x-keep', '1']);
});

test('kept though named: content-length (the framing forwarded), te (RFC 9110 has TE named in Connection), connection itself', () => {
  const input = ['host', 'h:1', 'content-length', '3', 'te', 'trailers', 'connection', 'content-length, TE, connection'];
  const { ok, headers } = nominate(input);
  assert.equal(ok, true);
  assert.deepEqual(headers, input);
});

test('refused, nothing removed (Envoy answers 400): naming x-forwarded-for, -host or -proto (that would hide where the request came from), a member starting with `:`, ten or more members, or TE of 256 bytes or more', () => {
  // `host`: Envoy's header map takes the name for :authority, and a request left without one is a 400.
  for (const connection of ['x-forwarded-for', 'X-Forwarded-Host', ' x-forwarded-proto ', 'x-a, x-forwarded-for', 'Host', ':authority', ' :path', 'a,b,c,d,e,f,g,h,i,j', 'close,close,close,close,close,close,close,close,close,close', ' , , , , , , , , , ']) {
    const input = ['connection', connection, 'x-a', '1', 'x-forwarded-for', '1.1.1.1'];
    const { ok, headers } = nominate(input);
    assert.equal(ok, false, connection);
    assert.deepEqual(headers, input, connection);
  }
  // Nine members, empty ones not counted (Envoy splits without keeping empty tokens): accepted.
  assert.equal(nominate(['connection', 'a,b,c,d,e,f,g,h,i', 'a', '1']).ok, true);
  assert.equal(nominate(['connection', 'a,,b,,c,,d,,e,,f,,g,,h,,i,,', 'a', '1']).ok, true);
  // A member with a colon elsewhere is a name like any other.
  assert.deepEqual(nominate(['connection', 'a:b', 'a:b', '1', 'x', '2']), { ok: true, headers: ['connection', 'a:b', 'x', '2'] });
  // TE: the limit counts every TE field, joined; only when TE is named.
  assert.equal(nominate(['connection', 'te', 'te', 'x'.repeat(255)]).ok, true);
  assert.equal(nominate(['connection', 'te', 'te', 'x'.repeat(256)]).ok, false);
  assert.equal(nominate(['connection', 'te', 'te', 'x'.repeat(200), 'te', 'y'.repeat(55)]).ok, false);
  assert.equal(nominate(['connection', 'x-a', 'te', 'x'.repeat(300)]).ok, true);
});

test('the usual Connection values take the fast path: nothing split, nothing removed', () => {
  for (const value of ['keep-alive', 'Keep-Alive', 'close', 'CLOSE']) {
    const input = ['connection', value, 'keep-alive', 'timeout=5'];
    assert.deepEqual(nominate(input), { ok: true, headers: input }, value);
  }
});

test('an upgrade request (Connection naming upgrade, with an Upgrade field) is left as it is, as Envoy\'s codec skips the check while it handles an upgrade; h2c is no upgrade there (its HTTP2-Settings field goes, then the check runs); without the Upgrade field it is checked', () => {
  const upgrade = ['connection', 'Upgrade, x-a', 'upgrade', 'websocket', 'x-a', '1'];
  assert.deepEqual(nominate(upgrade), { ok: true, headers: upgrade });
  assert.equal(nominate(['connection', 'upgrade, x-forwarded-for', 'upgrade', 'websocket']).ok, true);
  assert.deepEqual(nominate(['connection', 'Upgrade, HTTP2-Settings, x-a', 'upgrade', 'H2C', 'http2-settings', 'AAMAAABkAAQAAP__', 'x-a', '1', 'x-b', '2']), {
    ok: true,
    headers: ['connection', 'Upgrade, HTTP2-Settings, x-a', 'upgrade', 'H2C', 'x-b', '2'],
  });
  assert.equal(nominate(['connection', 'upgrade, x-forwarded-for', 'upgrade', 'h2c']).ok, false);
  // Nine other members besides upgrade and http2-settings: the two do not count once h2c is dropped.
  assert.equal(nominate(['connection', 'upgrade,http2-settings,a,b,c,d,e,f,g,h,i', 'upgrade', 'h2c']).ok, true);
  // `upgrade` as a value elsewhere is not an Upgrade field.
  assert.deepEqual(nominate(['connection', 'upgrade, x-a', 'x-a', 'upgrade']), { ok: true, headers: ['connection', 'upgrade, x-a'] });
  assert.equal(nominate(['connection', 'upgrade, x-forwarded-for', 'x-b', 'upgrade']).ok, false);
});

test('members are trimmed of ASCII whitespace only, as Envoy\'s StringUtil::trim: a no-break space is part of the name', () => {
  assert.deepEqual(nominate(['connection', '\u00a0x-forwarded-for', 'x-forwarded-for', '1.1.1.1']), { ok: true, headers: ['connection', '\u00a0x-forwarded-for', 'x-forwarded-for', '1.1.1.1'] });
  assert.deepEqual(nominate(['connection', '\t\vx-a\f ', 'x-a', '1']), { ok: true, headers: ['connection', '\t\vx-a\f '] });
});
