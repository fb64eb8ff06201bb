// The shared wording of HTTP failures, the generated password and the target-owned values:
// pure functions, tested here directly rather than only through the connector suites.
import { ConfigurationError, TransientError } from '../../shared/errors.js';
import type { RemoteUser } from '../../shared/jobs.js';
import { ownedByTarget, valuesFrom, withTargetValues } from '../../workers/runtime/authority.js';
import { TLS_CODES, bodyDetail, isHtml, lostReplyNote, malformedReply, noReplyError, summarizeBody, transportCode, type Remote } from '../../workers/runtime/http-failures.js';
import { randomPassword } from '../../workers/runtime/passwords.js';

const remote: Remote = { name: 'Crowd', product: 'Atlassian Crowd', urlSetting: 'CROWD_URL', htmlHint: 'CROWD_URL should point straight at Crowd' };
const reply = (over: Partial<{ status: number; text: string; contentType: string; malformed: boolean }>) => ({ status: 200, text: '', contentType: 'application/json', malformed: false, ...over });

describe('summarizeBody', () => {
  it('prefers the title, then the first heading, then the text, without tags, entities or runs of space', () => {
    expect(summarizeBody('<html><head><TITLE lang="en">Sign in &amp; go</TITLE></head><h1>Other</h1></html>')).toBe('Sign in go');
    expect(summarizeBody('<body><H1 class="x">Bad\n\n  <b>Gateway</b></H1></body>')).toBe('Bad Gateway');
    expect(summarizeBody('  plain\ttext &#160; here  ')).toBe('plain text here');
  });
  it('says so for an empty body, and cuts a long one at max with an ellipsis', () => {
    expect(summarizeBody('')).toBe('(empty body)');
    expect(summarizeBody('<p> </p>')).toBe('(empty body)');
    expect(summarizeBody('abcdef', 6)).toBe('abcdef');
    expect(summarizeBody('abcdefg', 6)).toBe('abcde…');
    expect(summarizeBody('x'.repeat(500))).toHaveLength(160);
  });
});

describe('isHtml and bodyDetail', () => {
  it('knows HTML by its content type or by a leading doctype or html tag', () => {
    expect(isHtml({ contentType: 'text/html; charset=utf-8', text: '{}' })).toBe(true);
    expect(isHtml({ contentType: '', text: '\n <!DOCTYPE html><p>x' })).toBe(true);
    expect(isHtml({ contentType: 'text/plain', text: '<HTML>' })).toBe(true);
    expect(isHtml({ contentType: 'text/plain', text: 'see <html>' })).toBe(false);
    expect(isHtml({ contentType: 'application/json', text: '{"a":1}' })).toBe(false);
  });
  it('quotes the status, the kind of body and its summary', () => {
    expect(bodyDetail(reply({ status: 502, contentType: 'text/html', text: '<title>Bad Gateway</title>' }))).toBe('502 HTML page: "Bad Gateway"');
    expect(bodyDetail(reply({ status: 500, contentType: 'text/plain', text: 'oops' }))).toBe('500 text/plain: "oops"');
    expect(bodyDetail(reply({ status: 500, contentType: '', text: 'oops' }))).toBe('500 no content type: "oops"');
  });
});

describe('malformedReply', () => {
  it('makes an HTML page a configuration problem that names the proxy, never quoting the page', () => {
    const err = malformedReply(remote, 'GET /user', reply({ contentType: 'text/html', text: '<title>Login secret-token</title>' }));
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(err.message).toBe('Crowd answered GET /user with 200 and an HTML page (text/html) instead of JSON: a proxy answered instead of Atlassian Crowd; CROWD_URL should point straight at Crowd');
    expect(err).toMatchObject({ status: 200, code: 'MALFORMED_RESPONSE' });
    expect(malformedReply(remote, 'x', reply({ contentType: '', text: '<html>' })).message).toContain('an HTML page (no content type)');
    expect(malformedReply(remote, 'GET /event', { ...reply({ contentType: 'text/html', text: '<html>' }), expected: 'XML' }).message).toContain('an HTML page (text/html) instead of XML: a proxy answered');
  });
  it('makes a cut-off, empty, misshapen or foreign body a transient failure that may have been applied', () => {
    const cut = malformedReply(remote, 'POST /user', reply({ status: 201, text: '{"na', malformed: true }));
    expect(cut).toBeInstanceOf(TransientError);
    expect(cut.message).toBe('Crowd answered POST /user with 201 but JSON that does not parse (4 bytes, cut off?) (a write may still have been applied)');
    expect(cut).toMatchObject({ status: 201, code: 'MALFORMED_RESPONSE' });
    expect(malformedReply(remote, 'x', reply({ text: 'é', malformed: true })).message).toContain('(2 bytes, cut off?)');
    expect(malformedReply(remote, 'x', reply({ text: ' \n' })).message).toBe('Crowd answered x with 200 but an empty body (a write may still have been applied)');
    expect(malformedReply(remote, 'x', reply({ text: 'ok', contentType: 'text/plain' })).message).toContain('but an unexpected text/plain body');
    expect(malformedReply(remote, 'x', reply({ text: 'ok', contentType: '' })).message).toContain('but an unexpected untyped body');
    expect(malformedReply(remote, 'x', reply({ text: '{}' }), 'no "name" field').message).toBe('Crowd answered x with 200 but no "name" field (a write may still have been applied)');
  });
  it('says a write may have been applied only for a call that writes', () => {
    expect(malformedReply(remote, 'GET /user alice', reply({ text: '{}' }), 'no "name" field').message).toBe('Crowd answered GET /user alice with 200 but no "name" field');
    expect(noReplyError(remote, 'HEAD /user', 'ETIMEDOUT', { timeoutMs: 5, baseUrl: 'https://crowd.example/', timedOut: true })?.message).toBe('Crowd did not answer HEAD /user within 5 ms');
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(lostReplyNote(`${method} /user`)).toBe(' (a write may still have been applied)');
    for (const what of ['GET /user', 'HEAD /user']) expect(lostReplyNote(what)).toBe('');
    // Only the method counts, not a GET further on in the description.
    expect(lostReplyNote('POST /user GET')).toBe(' (a write may still have been applied)');
  });
});

describe('transportCode and noReplyError', () => {
  it('finds the first non-empty code up to four causes deep', () => {
    expect(transportCode({ code: 'ECONNRESET' })).toBe('ECONNRESET');
    expect(transportCode({ code: '', cause: { cause: { code: 'ECONNREFUSED' } } })).toBe('ECONNREFUSED');
    expect(transportCode({ cause: { cause: { cause: { code: 'EPIPE' } } } })).toBe('EPIPE');
    expect(transportCode({ cause: { cause: { cause: { cause: { code: 'EPIPE' } } } } })).toBe('');
    expect(transportCode({ code: 42 })).toBe('');
    expect(transportCode(undefined)).toBe('');
  });

  const ctx = { timeoutMs: 5000, baseUrl: 'https://crowd.example/', timedOut: false };
  it('words a timeout (by flag or code), a refused certificate and an unreachable host', () => {
    for (const [code, timedOut] of [['', true], ['ETIMEDOUT', false], ['UND_ERR_CONNECT_TIMEOUT', false]] as const) {
      const err = noReplyError(remote, 'GET /user', code, { ...ctx, timedOut });
      expect(err).toBeInstanceOf(TransientError);
      expect(err).toMatchObject({ message: 'Crowd did not answer GET /user within 5000 ms', code: 'ETIMEDOUT' });
    }
    for (const code of TLS_CODES) {
      const err = noReplyError(remote, 'GET /user', code, ctx);
      expect(err).toBeInstanceOf(ConfigurationError);
      expect(err).toMatchObject({ message: `Cannot reach Crowd at https://crowd.example/ for GET /user: ${code}; check CROWD_URL and the TLS trust store (NODE_EXTRA_CA_CERTS)`, code });
    }
    expect([...TLS_CODES].sort()).toEqual(['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
      const err = noReplyError(remote, 'GET /user', code, ctx);
      expect(err).toBeInstanceOf(TransientError);
      expect(err).toMatchObject({ message: `Cannot reach Crowd at https://crowd.example/ for GET /user: ${code}`, code });
    }
    expect(noReplyError(remote, 'x', 'ECONNRESET', ctx)).toBeUndefined();
    expect(noReplyError(remote, 'x', '', ctx)).toBeUndefined();
  });
  it("uses the remote's own configuration codes instead of the TLS ones when it has them", () => {
    const own = { ...remote, configCodes: new Set(['EPROTO']) };
    expect(noReplyError(own, 'x', 'EPROTO', ctx)).toBeInstanceOf(ConfigurationError);
    expect(noReplyError(own, 'x', 'CERT_HAS_EXPIRED', ctx)).toBeUndefined();
  });
});

describe('randomPassword', () => {
  it('is 32 printable characters with every class, and different each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = randomPassword();
      expect(p).toMatch(/^[A-HJ-NP-Za-km-z2-9!#%*+\-=?@^_~]{32}$/);
      for (const cls of [/[A-Z]/, /[a-z]/, /[2-9]/, /[!#%*+\-=?@^_~]/]) expect(p).toMatch(cls);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
  it('does not always put the guaranteed characters first', () => {
    const firstIsUpper = Array.from({ length: 200 }, () => /^[A-Z]/.test(randomPassword())).filter(Boolean).length;
    // Shuffled, an upper-case letter leads about a third of the time; unshuffled, always.
    expect(firstIsUpper).toBeLessThan(150);
  });
});

describe('target-owned values', () => {
  const r: RemoteUser = { target: 'entra', remoteId: 'r1', username: 'ann@contoso.example', active: false, firstName: 'Ann', groups: ['g'], attributes: { dept: 'x' } } as RemoteUser;
  it('lists the pushed fields the target owns, none without an authority map', () => {
    expect(ownedByTarget(undefined)).toEqual([]);
    expect(ownedByTarget({ email: 'target', photo: 'target', groups: 'target', username: 'app' } as never)).toEqual(['email', 'groups']);
  });
  it("takes each wanted field from the remote user: the UPN as e-mail, cleared names as null, groups and attributes only when read", () => {
    expect(valuesFrom(r, ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'])).toEqual({
      username: 'ann@contoso.example', email: 'ann@contoso.example', firstName: 'Ann', lastName: null, displayName: null, active: false, groups: ['g'], attributes: { dept: 'x' },
    });
    expect(valuesFrom(r, ['username'], 'ann')).toEqual({ username: 'ann' });
    expect(valuesFrom({ ...r, username: 'ann', email: undefined, groups: undefined, attributes: undefined } as RemoteUser, ['email', 'groups', 'attributes'])).toEqual({});
    expect(valuesFrom({ ...r, email: 'a@x.example' } as RemoteUser, ['email'])).toEqual({ email: 'a@x.example' });
    expect(valuesFrom(r, [])).toEqual({});
  });
  it('puts them into the snapshot, dropping the ones the target has cleared', () => {
    const snapshot = { id: 'a', username: 'ann', email: 'old@x.example', lastName: 'Old', active: true, version: 3 };
    expect(withTargetValues(snapshot, r, ['email', 'lastName', 'active'])).toEqual({ id: 'a', username: 'ann', email: 'ann@contoso.example', active: false, version: 3 });
    expect(withTargetValues(snapshot, r, [])).toBe(snapshot);
  });
});
