// User resource semantics of reference §1.1 and §4.
import { startCrowdEmulator } from '../../../emulators/crowd/index.js';
import { Client, enc, useEmulator, xml } from './helpers.js';

describe('Crowd emulator users', () => {
  const t = useEmulator();

  it('serves the exact JSON user entity shape', async () => {
    const before = Date.now();
    await t.client.createUser('Admin', { 'first-name': 'bob', 'last-name': 'the builder', email: 'bob@example.net' });
    const r = await t.client.get('user?username=admin');
    const api = t.client.api;
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(r.json)).toEqual([
      'expand', 'link', 'name', 'first-name', 'last-name', 'display-name', 'email', 'active', 'key', 'password',
      'attributes', 'created-date', 'updated-date',
    ]);
    expect(r.json).toEqual({
      expand: 'attributes',
      // The self link carries the canonical stored name, not the one queried.
      link: { rel: 'self', href: `${api}user?username=Admin` },
      name: 'Admin',
      'first-name': 'bob',
      'last-name': 'the builder',
      'display-name': 'bob the builder',
      email: 'bob@example.net',
      active: true,
      key: expect.stringMatching(/^32769:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      password: { link: { rel: 'edit', href: `${api}user/password?username=Admin` } },
      attributes: { link: { rel: 'self', href: `${api}user/attribute?username=Admin` }, attributes: [] },
      'created-date': expect.any(Number),
      'updated-date': expect.any(Number),
    });
    expect(r.json['created-date']).toBeGreaterThanOrEqual(before);
    expect(r.json['updated-date']).toBeGreaterThanOrEqual(r.json['created-date']);
  });

  it('fills attributes, sorted by name, only with expand=attributes', async () => {
    await t.client.createUser('ann', { attributes: { attributes: [{ name: 'zeta', values: ['1'] }, { name: 'Alpha', values: ['a', 'b'] }] } });
    const r = await t.client.get('user?username=ann&expand=attributes');
    const attrs = r.json.attributes.attributes as { name: string; values: string[]; link: { href: string } }[];
    expect(attrs.map((a) => a.name)).toEqual(['Alpha', 'passwordLastChanged', 'requiresPasswordChange', 'zeta']);
    expect(attrs[0]).toEqual({
      link: { rel: 'self', href: `${t.client.api}user/attribute?username=ann&attributename=Alpha` },
      name: 'Alpha',
      values: ['a', 'b'],
    });
    expect(attrs.find((a) => a.name === 'requiresPasswordChange')?.values).toEqual(['false']);
  });

  it('serves the XML user entity (name as attribute, xs:dateTime dates)', async () => {
    await t.client.createUser('xena', { 'first-name': 'Xena', 'last-name': 'Warrior', email: 'x@example.com' });
    const r = await t.client.get('user?username=XENA&expand=attributes', { accept: 'application/xml' });
    expect(r.headers.get('content-type')).toBe('application/xml');
    const u = xml.parse(r.text).user;
    expect(u['@name']).toBe('xena');
    expect(u['@expand']).toBe('attributes');
    expect(u.link).toEqual({ '@href': `${t.client.api}user?username=xena`, '@rel': 'self' });
    expect(u['first-name']).toBe('Xena');
    expect(u['display-name']).toBe('Xena Warrior');
    expect(u.active).toBe('true');
    expect(u.password.link['@rel']).toBe('edit');
    expect(u.key).toMatch(/^32769:/);
    expect(u['created-date']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(u.attributes.link['@href']).toBe(`${t.client.api}user/attribute?username=xena`);
    expect(r.text).toContain('<attribute name="requiresPasswordChange">');
    expect(r.text).toContain('<values><value>false</value></values>');
  });

  it('runs create → get → update → rename → delete', async () => {
    const created = await t.client.createUser('Carol');
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${t.client.api}user?username=Carol`);
    expect(created.json.name).toBe('Carol');
    const key = created.json.key as string;

    const got = await t.client.get('user?username=carol');
    expect(got.json.name).toBe('Carol');

    const put = await t.client.put('user?username=carol', { ...got.json, name: 'carol', 'first-name': 'Caroline' });
    expect(put.status).toBe(204);
    const updated = await t.client.get('user?username=Carol');
    expect(updated.json['first-name']).toBe('Caroline');
    expect(updated.json['display-name']).toBe('First Last'); // sent back unchanged from the GET
    expect(updated.json.name).toBe('Carol'); // a case-different body name does not rename
    expect(updated.json['updated-date']).toBeGreaterThanOrEqual(got.json['updated-date']);

    const renamed = await t.client.post('user/rename?username=carol', { 'new-name': 'caroline' });
    expect(renamed.status).toBe(200);
    expect(renamed.json.name).toBe('caroline');
    expect(renamed.json.key).toBe(key);
    expect((await t.client.get('user?username=Carol')).status).toBe(404);
    expect((await t.client.get(`user?key=${enc(key)}`)).json.name).toBe('caroline');

    expect((await t.client.del('user?username=CAROLINE')).status).toBe(204);
    const gone = await t.client.del('user?username=caroline');
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ reason: 'USER_NOT_FOUND', message: 'User <caroline> does not exist' });
  });

  it('answers a null key for a user with a blank external id (LDAP without one); no key finds it', async () => {
    t.em.seed([{ name: 'ldap1', externalId: '' }, { name: 'ldap2', externalId: ' ' }, { name: 'keyed', externalId: 'k-1' }]);
    expect((await t.client.get('user?username=ldap1')).json).toMatchObject({ name: 'ldap1', key: null });
    expect((await t.client.get('user?username=ldap2')).json).toMatchObject({ name: 'ldap2', key: null });
    expect((await t.client.get('user?username=keyed')).json).toMatchObject({ key: '32769:k-1' });
    expect((await t.client.get('user?key=32769:')).status).toBe(404);
    const listed = await t.client.get('search?entity-type=user&expand=user&restriction=name%3Dldap*');
    expect(listed.json.users.map((u: { key: unknown }) => u.key)).toEqual([null, null]);
    const asXml = xml.parse((await t.client.get('user?username=ldap1', { accept: 'application/xml' })).text);
    expect(asXml.user.key).toBeUndefined();
    // Deleting one keyless user leaves the other alone.
    expect((await t.client.del('user?username=ldap1')).status).toBe(204);
    expect((await t.client.get('user?username=ldap2')).status).toBe(200);
  });

  it('looks users up by key, and 400s without username or key', async () => {
    const { json } = await t.client.createUser('keyed');
    expect((await t.client.get(`user?key=${enc(json.key)}`)).json.name).toBe('keyed');
    const miss = await t.client.get('user?key=32769:00000000-0000-0000-0000-000000000000');
    expect(miss.status).toBe(404);
    expect(miss.json.message).toBe('User <externalId=00000000-0000-0000-0000-000000000000> does not exist');
    expect((await t.client.get('user?key=1:whatever')).status).toBe(404);
    const none = await t.client.get('user');
    expect(none.status).toBe(400);
    expect(none.json.reason).toBe('ILLEGAL_ARGUMENT');
  });

  it('refuses duplicates case-insensitively with 400 INVALID_USER', async () => {
    await t.client.createUser('dave');
    const r = await t.client.createUser('DAVE');
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ reason: 'INVALID_USER', message: 'User already exists' });
  });

  it('validates names and requires a password on create', async () => {
    expect((await t.client.createUser(' padded')).json).toEqual({
      reason: 'INVALID_USER',
      message: 'User name may not contain leading or trailing whitespace',
    });
    expect((await t.client.createUser('x'.repeat(256))).json.reason).toBe('ILLEGAL_ARGUMENT');
    const noPw = await t.client.post('user', { name: 'nopw' });
    expect(noPw.status).toBe(400);
    expect(noPw.json.reason).toBe('ILLEGAL_ARGUMENT');
    t.em.setFaults({ allowPasswordlessCreate: true });
    expect((await t.client.post('user', { name: 'nopw' })).status).toBe(201);
  });

  it('defaults active to true, derives names and truncates long values', async () => {
    const r = await t.client.post('user', { name: 'ed', 'display-name': 'Edward  van Dyke', email: `${'e'.repeat(300)}@x`, password: { value: 'p' } });
    expect(r.json.active).toBe(true);
    expect(r.json['first-name']).toBe('Edward');
    expect(r.json['last-name']).toBe('van Dyke');
    expect(r.json.email).toHaveLength(255);
    expect(r.json.email.endsWith('...')).toBe(true);
    const bare = await t.client.post('user', { name: 'fay', password: { value: 'p' } });
    expect([bare.json['first-name'], bare.json['last-name'], bare.json['display-name']]).toEqual(['', 'fay', 'fay']);
  });

  it('treats PUT as a full replace: omitted fields are recomputed, active defaults to true', async () => {
    await t.client.createUser('gil', { 'first-name': 'Gil', 'last-name': 'Bert', 'display-name': 'Gil Bert', active: false, email: 'gil@example.com' });
    expect((await t.client.put('user?username=gil', { name: 'gil', email: 'gil@example.com' })).status).toBe(204);
    const r = await t.client.get('user?username=gil');
    expect([r.json['first-name'], r.json['last-name'], r.json['display-name'], r.json.active]).toEqual(['', 'gil', 'gil', true]);
  });

  it('refuses PUT when body and URL names differ, and 404s unknown users', async () => {
    await t.client.createUser('hal');
    const mismatch = await t.client.put('user?username=hal', { name: 'other', email: 'hal@example.com' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toEqual({
      reason: 'ILLEGAL_ARGUMENT',
      message: 'The names of the resource location <hal> and object <other> are not equal',
    });
    expect((await t.client.put('user?username=ghost', { name: 'ghost' })).status).toBe(404);
  });

  it('refuses e-mail changes with 403 unless allowed; case-only changes pass', async () => {
    await t.client.createUser('ida', { email: 'ida@example.com' });
    const r = await t.client.put('user?username=ida', { name: 'ida', email: 'new@example.com' });
    expect(r.status).toBe(403);
    expect(r.json).toEqual({
      reason: 'APPLICATION_PERMISSION_DENIED',
      message: 'External applications are not allowed to change user emails',
    });
    expect((await t.client.put('user?username=ida', { name: 'ida', email: 'IDA@example.com' })).status).toBe(204);
    expect((await t.client.put('user?username=ida', { name: 'ida' })).status).toBe(403); // omitted = changed to null
  });

  it('allows e-mail changes with allowEmailChange', async () => {
    const em = await startCrowdEmulator({ allowEmailChange: true });
    try {
      const c = new Client(em);
      await c.createUser('jo', { email: 'jo@example.com' });
      expect((await c.put('user?username=jo', { name: 'jo', email: 'jo2@example.com' })).status).toBe(204);
      expect((await c.get('user?username=jo')).json.email).toBe('jo2@example.com');
    } finally {
      await em.close();
    }
  });

  it('renames keep memberships and refuse existing targets', async () => {
    await t.client.createUser('kim');
    await t.client.createUser('lee');
    await t.client.createGroup('staff');
    await t.client.post('user/group/direct?username=kim', { name: 'staff' });
    const clash = await t.client.post('user/rename?username=kim', { 'new-name': 'LEE' });
    expect(clash.status).toBe(400);
    expect(clash.json).toEqual({ reason: 'INVALID_USER', message: 'User LEE already exists.' });
    expect((await t.client.post('user/rename?username=kim', { 'new-name': 'kimberly' })).status).toBe(200);
    expect(await t.client.names('group/user/direct?groupname=staff')).toEqual(['kimberly']);
    expect(await t.client.names('user/group/direct?username=kimberly')).toEqual(['staff']);
    expect((await t.client.post('user/rename?username=kim', { 'new-name': 'x' })).status).toBe(404);
    // Case-only rename of oneself is allowed.
    expect((await t.client.post('user/rename?username=kimberly', { 'new-name': 'Kimberly' })).json.name).toBe('Kimberly');
  });

  it('answers old servers’ 500 for rename conflicts when asked (CWD-4819)', async () => {
    await t.client.createUser('m1');
    await t.client.createUser('m2');
    t.em.setFaults({ renameConflictAs500: true });
    const r = await t.client.post('user/rename?username=m1', { 'new-name': 'm2' }, { accept: 'application/xml' });
    expect(r.status).toBe(500);
    expect(r.text).toBe(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><error><reason>OPERATION_FAILED</reason><message>User m2 already exists.</message></error>',
    );
  });

  it('sets passwords and authenticates, with each failure reason', async () => {
    await t.client.createUser('ned');
    const auth = (u: string, pw: string) => t.client.post(`authentication?username=${u}`, { value: pw });
    const ok = await auth('NED', 'secret-1');
    expect(ok.status).toBe(200);
    expect(ok.json.name).toBe('ned');
    expect(ok.json.password).toEqual({ link: { rel: 'edit', href: `${t.client.api}user/password?username=ned` } });
    expect(JSON.stringify(ok.json)).not.toContain('secret-1');

    const wrong = await auth('ned', 'nope');
    expect(wrong.status).toBe(400);
    expect(wrong.json.reason).toBe('INVALID_USER_AUTHENTICATION');

    const unknown = await auth('ghost', 'x');
    expect(unknown.status).toBe(400); // the resource catches UserNotFound explicitly
    expect(unknown.json.reason).toBe('USER_NOT_FOUND');

    expect((await t.client.put('user/password?username=ned', { value: 'secret-2' })).status).toBe(204);
    expect((await auth('ned', 'secret-1')).status).toBe(400);
    expect((await auth('ned', 'secret-2')).status).toBe(200);

    await t.client.put('user?username=ned', { name: 'ned', email: 'ned@example.com', active: false });
    const inactive = await auth('ned', 'secret-2');
    expect(inactive.status).toBe(400);
    expect(inactive.json.reason).toBe('INACTIVE_ACCOUNT');

    expect((await t.client.put('user/password?username=ghost', { value: 'x' })).status).toBe(404);
  });

  it('clears passwords with DELETE and enforces the password policy knob', async () => {
    await t.client.createUser('ola');
    expect((await t.client.del('user/password?username=ola')).status).toBe(204);
    expect((await t.client.post('authentication?username=ola', { value: 'secret-1' })).json.reason).toBe('INVALID_USER_AUTHENTICATION');
    t.em.setFaults({ passwordMinLength: 12 });
    const weak = await t.client.put('user/password?username=ola', { value: 'short' });
    expect(weak.status).toBe(400);
    expect(weak.json.reason).toBe('INVALID_CREDENTIAL');
    expect((await t.client.put('user/password?username=ola', { value: 'long-enough-1' })).status).toBe(204);
  });

  it('bumps updated-date on password changes', async () => {
    t.em.seed([{ name: 'pam', password: 'x', createdDate: 1000, updatedDate: 1000 }]);
    await t.client.put('user/password?username=pam', { value: 'y' });
    expect((await t.client.get('user?username=pam')).json['updated-date']).toBeGreaterThan(1000);
  });

  it('gets, stores (upsert only) and deletes attributes', async () => {
    t.em.seed([{ name: 'quin', attributes: { keep: ['1'] } }]);
    const path = 'user/attribute?username=quin';
    expect((await t.client.post(path, { attributes: [{ name: 'dept', values: ['eng', 'ops'] }] })).status).toBe(204);
    expect((await t.client.post(path, { attributes: [{ name: 'dept', values: ['sales'] }] })).status).toBe(204);
    const r = await t.client.get(path);
    expect(r.json).toEqual({
      link: { rel: 'self', href: `${t.client.api}user/attribute?username=quin` },
      attributes: [
        { link: { rel: 'self', href: `${t.client.api}user/attribute?username=quin&attributename=dept` }, name: 'dept', values: ['sales'] },
        { link: { rel: 'self', href: `${t.client.api}user/attribute?username=quin&attributename=keep` }, name: 'keep', values: ['1'] },
      ],
    });
    expect((await t.client.del('user/attribute?username=quin&attributename=dept')).status).toBe(204);
    expect((await t.client.get(path)).json.attributes.map((a: { name: string }) => a.name)).toEqual(['keep']);
    expect((await t.client.del('user/attribute?username=quin')).status).toBe(400);
    expect((await t.client.get('user/attribute?username=ghost')).status).toBe(404);
  });

  it("keeps an attribute's values as a set: duplicates dropped ignoring case, no promised order (sorted here)", async () => {
    t.em.seed([{ name: 'sol' }]);
    expect((await t.client.post('user/attribute?username=sol', { attributes: [{ name: 'team', values: ['ops', 'eng', 'Ops', 'eng'] }] })).status).toBe(204);
    expect((await t.client.get('user/attribute?username=sol')).json.attributes[0].values).toEqual(['eng', 'ops']);
  });

  it('stores attributes sent as XML', async () => {
    t.em.seed([{ name: 'rae' }]);
    const body = '<attributes><attribute name="team"><values><value>a</value><value>b</value></values></attribute></attributes>';
    expect((await t.client.post('user/attribute?username=rae', body, { contentType: 'application/xml' })).status).toBe(204);
    expect((await t.client.get('user/attribute?username=rae')).json.attributes[0].values).toEqual(['a', 'b']);
  });

  it('answers the mail endpoints with 204', async () => {
    await t.client.createUser('sam');
    expect((await t.client.post('user/mail/password?username=sam')).status).toBe(204);
    expect((await t.client.post('user/mail/usernames?email=sam@example.com')).status).toBe(204);
    expect((await t.client.post('user/mail/password?username=ghost')).status).toBe(404);
  });
});
