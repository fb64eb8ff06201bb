// Transport contract of reference §1–§3: auth before routing, version header, negotiation,
// error bodies that are not ErrorEntities.
import { startCrowdEmulator } from '../../../emulators/crowd/index.js';
import { Client, basic, useEmulator, xml } from './helpers.js';

describe('Crowd emulator transport', () => {
  const t = useEmulator();

  it('describes its connection with a /crowd/ base URL and the default application', () => {
    expect(t.em.info).toEqual({
      baseUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/crowd\/$/),
      applicationName: 'idsync',
      applicationPassword: 'idsync-secret',
    });
    expect(t.em.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_emulator$/);
  });

  it.each([
    ['no Authorization header', null],
    ['a wrong password', basic('idsync', 'nope')],
    ['an unknown application', basic('admin', 'idsync-secret')],
    ['a non-Basic scheme', 'Bearer abc'],
  ])('answers 401 text/plain with a challenge for %s', async (_label, auth) => {
    const r = await t.client.get('user?username=admin', { auth });
    expect(r.status).toBe(401);
    expect(r.text).toBe('Application failed to authenticate');
    expect(r.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(r.headers.get('www-authenticate')).toBe('BASIC realm="Crowd REST Service"');
    expect(r.headers.get('x-embedded-crowd-version')).toBe('Crowd/5.1.6');
  });

  it('matches the application name case-insensitively and the password exactly', async () => {
    expect((await t.client.get('user?username=x', { auth: basic('IDSYNC', 'idsync-secret') })).status).toBe(404);
    expect((await t.client.get('user?username=x', { auth: basic('idsync', 'IDSYNC-SECRET') })).status).toBe(401);
  });

  it('checks credentials before routing (python-crowd auth_ping relies on it)', async () => {
    expect((await t.client.get('non-existent/location', { auth: null })).status).toBe(401);
    const ok = await t.client.get('non-existent/location');
    expect(ok.status).toBe(404);
    expect(ok.headers.get('x-embedded-crowd-version')).toBe('Crowd/5.1.6');
  });

  it('sends X-Embedded-Crowd-Version on successes, errors and Tomcat pages alike', async () => {
    await t.client.createUser('alice');
    const responses = await Promise.all([
      t.client.get('user?username=alice'),
      t.client.get('user?username=nobody'),
      t.client.get('user'),
      t.client.del('user?username=alice'),
      t.client.call(`${t.em.info.baseUrl.replace('/crowd/', '/elsewhere')}`),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 404, 400, 204, 404]);
    for (const r of responses) expect(r.headers.get('x-embedded-crowd-version')).toBe('Crowd/5.1.6');
  });

  it('answers XML when Accept is absent or */*, JSON when asked', async () => {
    await t.client.createUser('alice');
    const none = await t.client.get('user?username=alice', { accept: null });
    expect(none.headers.get('content-type')).toBe('application/xml');
    expect(none.text.startsWith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><user')).toBe(true);
    const any = await t.client.get('user?username=alice', { accept: '*/*' });
    expect(any.headers.get('content-type')).toBe('application/xml');
    const axios = await t.client.get('user?username=alice', { accept: 'application/json, text/plain, */*' });
    expect(axios.headers.get('content-type')).toBe('application/json');
    const qpref = await t.client.get('user?username=alice', { accept: 'application/xml;q=0.5, application/json' });
    expect(qpref.headers.get('content-type')).toBe('application/json');
    expect((await t.client.get('user?username=alice', { accept: 'text/html' })).status).toBe(406);
  });

  it('renders the error entity in the negotiated format', async () => {
    const j = await t.client.get('user?username=ghost');
    expect(j.status).toBe(404);
    expect(j.json).toEqual({ reason: 'USER_NOT_FOUND', message: 'User <ghost> does not exist' });
    const x = await t.client.get('user?username=ghost', { accept: 'application/xml' });
    expect(x.text).toBe(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><error><reason>USER_NOT_FOUND</reason><message>User &lt;ghost&gt; does not exist</message></error>',
    );
  });

  it('serves /latest as an alias and tolerates doubled slashes like Tomcat', async () => {
    await t.client.createUser('alice');
    const latest = await t.client.get(`${t.em.info.baseUrl}rest/usermanagement/latest/user?username=alice`);
    expect(latest.status).toBe(200);
    expect(latest.json.link.href).toContain('/rest/usermanagement/latest/user?username=alice');
    const doubled = await t.client.get(`${t.em.info.baseUrl}/rest/usermanagement/1/user?username=alice`);
    expect(doubled.status).toBe(200);
  });

  it('answers 405 with Allow for a known path and the wrong method', async () => {
    const r = await t.client.call('user/rename', { method: 'GET' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toContain('POST');
  });

  it('refuses malformed JSON with a bare text/plain 400', async () => {
    const r = await t.client.post('user', '{"name": "x",');
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(r.json).toBeUndefined();
  });

  it('refuses unknown JSON fields like Jackson does', async () => {
    const r = await t.client.post('user', { name: 'x', password: { value: 'p' }, groups: ['a'] });
    expect(r.status).toBe(400);
    expect(r.text).toContain('Unrecognized field "groups"');
  });

  it('answers 415 for a body without a supported Content-Type', async () => {
    expect((await t.client.post('user', 'name=x', { contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await t.client.post('user', '{"name":"x"}', { contentType: null })).status).toBe(415);
  });

  it('accepts XML bodies while answering JSON (Drupal module style)', async () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><user name="dru"><first-name>Dru</first-name><last-name>Pal</last-name>' +
      '<email>dru@example.com</email><active>true</active><password><value>pw</value></password></user>';
    const r = await t.client.post('user', body, { contentType: 'application/xml' });
    expect(r.status).toBe(201);
    expect(r.json.name).toBe('dru');
    expect(r.json['display-name']).toBe('Dru Pal');
  });

  it('answers 404 for a non-numeric paging parameter, as JAX-RS does for @QueryParam int', async () => {
    await t.client.createGroup('g');
    expect((await t.client.get('group/user/direct?groupname=g&max-results=ten')).status).toBe(404);
    expect((await t.client.get('group/user/direct?groupname=g&max-results=0')).json.reason).toBe('ILLEGAL_ARGUMENT');
    expect((await t.client.get('group/user/direct?groupname=g&start-index=-1')).status).toBe(400);
  });
});

describe('Crowd emulator remote-address allow-list', () => {
  it('answers Tomcat’s HTML 403 to addresses outside the list', async () => {
    const em = await startCrowdEmulator({ allowedAddresses: ['10.0.0.0/8'] });
    try {
      const r = await new Client(em).get('user?username=x');
      expect(r.status).toBe(403);
      expect(r.headers.get('content-type')).toBe('text/html;charset=utf-8');
      expect(r.text).toContain('Client with address &quot;127.0.0.1&quot; is forbidden from making requests to the application, idsync.');
      expect(r.json).toBeUndefined();
    } finally {
      await em.close();
    }
  });

  it('lets listed addresses, ranges and localhost through', async () => {
    for (const allowed of [['127.0.0.1'], ['127.0.0.0/8'], ['localhost']]) {
      const em = await startCrowdEmulator({ allowedAddresses: allowed });
      try {
        expect((await new Client(em).get('user?username=x')).status).toBe(404);
      } finally {
        await em.close();
      }
    }
  });

  it('still answers 401 before 403 for bad credentials', async () => {
    const em = await startCrowdEmulator({ allowedAddresses: ['10.1.2.3'] });
    try {
      expect((await new Client(em).get('user?username=x', { auth: null })).status).toBe(401);
    } finally {
      await em.close();
    }
  });
});

describe('Crowd emulator options', () => {
  it('uses the configured application credentials and directory id', async () => {
    const em = await startCrowdEmulator({ applicationName: 'app', applicationPassword: 'pw', directoryId: 557057 });
    try {
      const c = new Client(em);
      expect(em.info.applicationName).toBe('app');
      const r = await c.createUser('u1');
      expect(r.json.key).toMatch(/^557057:[0-9a-f-]{36}$/);
      expect((await c.get('user?username=u1', { auth: basic('idsync', 'idsync-secret') })).status).toBe(401);
    } finally {
      await em.close();
    }
  });

  it('parses as XML the same user it serves as JSON', async () => {
    const em = await startCrowdEmulator();
    try {
      const c = new Client(em);
      await c.createUser('xmluser');
      const doc = xml.parse((await c.get('user?username=xmluser', { accept: 'application/xml' })).text);
      expect(doc.user['@name']).toBe('xmluser');
    } finally {
      await em.close();
    }
  });
});
