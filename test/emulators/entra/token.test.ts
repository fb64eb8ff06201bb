import { ClientCertificateCredential } from '@azure/identity';
import { constants, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createClientCertificate, SYNC_WORKER_ROLES, USER_ADMINISTRATOR_ROLE, type EntraEmulator } from '../../../emulators/entra/index.js';
import { GRAPH_SCOPE, graphClient, graphError, rawGraph, secretCredential, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;
let cert: Awaited<ReturnType<typeof createClientCertificate>>;

beforeAll(async () => {
  cert = await createClientCertificate('idsync-test');
  emu = await startTestEmulator({ clientCertificatePem: cert.certificatePem });
});
afterAll(() => emu.close());

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const claims = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
const tokenUrl = (): string => `${emu.info.authorityHost}/${emu.info.tenantId}/oauth2/v2.0/token`;

async function postToken(
  form: Record<string, string>,
  url = tokenUrl(),
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', ...headers }, body: new URLSearchParams(form).toString() });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const basicAuth = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function credentialsForm(extra: Record<string, string>): Record<string, string> {
  return { client_id: emu.info.clientId, scope: GRAPH_SCOPE, grant_type: 'client_credentials', ...extra };
}

function assertion(key: string, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64({ alg: 'PS256', typ: 'JWT', ...header })}.${b64(payload)}`;
  const sig = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  return `${input}.${sig.toString('base64url')}`;
}

function assertionPayload(aud = tokenUrl()): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { aud, iss: emu.info.clientId, sub: emu.info.clientId, nbf: now, iat: now, exp: now + 600, jti: randomUUID() };
}

describe('v2.0 authority', () => {
  test('openid-configuration advertises the token endpoint on the emulator host', async () => {
    const res = await fetch(`${emu.info.authorityHost}/${emu.info.tenantId}/v2.0/.well-known/openid-configuration`);
    const doc = (await res.json()) as Record<string, string>;
    expect(res.status).toBe(200);
    expect(doc.token_endpoint).toBe(tokenUrl());
    expect(doc.issuer).toBe(`${emu.info.authorityHost}/${emu.info.tenantId}/v2.0`);
    expect(doc.jwks_uri).toMatch(/discovery\/v2\.0\/keys$/);
  });

  test('ClientSecretCredential gets a JWT carrying roles, tid, aud and the admin role', async () => {
    const cred = secretCredential(emu);
    const before = emu.stats().tokenRequests;
    const token = await cred.getToken(GRAPH_SCOPE);
    await cred.getToken(GRAPH_SCOPE);
    // MSAL caches the ~1 h token: one request only.
    expect(emu.stats().tokenRequests - before).toBe(1);
    const c = claims(token.token);
    expect(c).toMatchObject({ aud: 'https://graph.microsoft.com', tid: emu.info.tenantId, appid: emu.info.clientId, idtyp: 'app', appidacr: '1' });
    expect(c.roles).toEqual([...SYNC_WORKER_ROLES]);
    expect(c.wids).toEqual([USER_ADMINISTRATOR_ROLE]);
    expect(token.expiresOnTimestamp - Date.now()).toBeGreaterThan(3500_000);
  });

  test('ClientCertificateCredential (PS256 assertion, x5t#S256) works end to end', async () => {
    const cred = new ClientCertificateCredential(emu.info.tenantId, emu.info.clientId, { certificate: cert.pem }, { authorityHost: emu.info.authorityHost, disableInstanceDiscovery: true });
    const orgs = await graphClient(emu, cred).api('/organization').get();
    expect(orgs.value).toHaveLength(1);
    expect(claims((await cred.getToken(GRAPH_SCOPE)).token).appidacr).toBe('2');
  });

  test('a tenant domain name addresses the tenant too', async () => {
    const cred = secretCredential(emu, emu.info.clientId, emu.info.clientSecret, 'idsyncdev.onmicrosoft.com');
    await expect(cred.getToken(GRAPH_SCOPE)).resolves.toBeTruthy();
  });
});

describe('AADSTS errors', () => {
  test('bad secret → 401 invalid_client AADSTS7000215, surfaced by @azure/identity', async () => {
    const raw = await postToken(credentialsForm({ client_secret: 'wrong' }));
    expect(raw.status).toBe(401);
    expect(raw.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(raw.body.error_description).toMatch(/^AADSTS7000215: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: /s);
    await expect(secretCredential(emu, emu.info.clientId, 'wrong').getToken(GRAPH_SCOPE)).rejects.toThrow(/7000215/);
  });

  test('unknown tenant → AADSTS90002 (discovery fails, no token)', async () => {
    const res = await fetch(`${emu.info.authorityHost}/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
    const cred = secretCredential(emu, emu.info.clientId, emu.info.clientSecret, '00000000-0000-0000-0000-000000000001');
    await expect(cred.getToken(GRAPH_SCOPE)).rejects.toThrow();
  });

  test('unknown client → 400 unauthorized_client AADSTS700016', async () => {
    const raw = await postToken(credentialsForm({ client_id: randomUUID(), client_secret: 'x' }));
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] });
  });

  test('scope must be one Graph resource with /.default', async () => {
    expect((await postToken(credentialsForm({ client_secret: emu.info.clientSecret, scope: 'https://graph.microsoft.com/User.Read' }))).body).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
    expect((await postToken(credentialsForm({ client_secret: emu.info.clientSecret, scope: 'https://vault.azure.net/.default' }))).body).toMatchObject({ error: 'invalid_resource', error_codes: [500011] });
  });

  test('a bare scope (User.Read) is read as a Graph scope → invalid_scope AADSTS1002012, not an unknown resource', async () => {
    const raw = await postToken(credentialsForm({ client_secret: emu.info.clientSecret, scope: 'User.Read' }));
    expect(raw.status).toBe(400);
    expect(raw.body).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
    expect(raw.body.error_description).toMatch(/^AADSTS1002012: The provided value for scope User\.Read is not valid/);
  });

  test('client_secret_basic, as advertised: the id and secret in an HTTP Basic header', async () => {
    const { client_id: _, ...form } = credentialsForm({});
    const ok = await postToken(form, tokenUrl(), { authorization: basicAuth(emu.info.clientId, emu.info.clientSecret) });
    expect(ok.status).toBe(200);
    expect(claims(ok.body.access_token as string)).toMatchObject({ appid: emu.info.clientId, appidacr: '1' });
    const bad = await postToken(form, tokenUrl(), { authorization: basicAuth(emu.info.clientId, 'wrong') });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    // The form's client_id names the app; a Basic secret of another app does not open it.
    const other = await postToken(credentialsForm({}), tokenUrl(), { authorization: basicAuth('someone-else', emu.info.clientSecret + 'x') });
    expect(other.body).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
  });

  test('an injected 503 carries Retry-After; @azure/identity waits it out and gets a token', async () => {
    emu.setFaults({ tokenFailNext: 1, faultRetryAfterSeconds: 0.2 });
    try {
      const raw = await postToken(credentialsForm({ client_secret: emu.info.clientSecret }));
      expect(raw.status).toBe(503);
      expect(raw.headers.get('retry-after')).toBe('0.2');
      expect(raw.body).toMatchObject({ error: 'temporarily_unavailable', error_codes: [90033] });
      emu.setFaults({ tokenFailNext: 1 });
      const before = emu.stats().tokenRequests;
      await expect(secretCredential(emu).getToken(GRAPH_SCOPE)).resolves.toBeTruthy();
      expect(emu.stats().tokenRequests - before).toBe(2);
    } finally {
      emu.setFaults({ faultRetryAfterSeconds: 1 });
    }
  });

  test('assertion from an unregistered certificate → AADSTS700027 through the credential', async () => {
    const other = await createClientCertificate('stranger');
    const cred = new ClientCertificateCredential(emu.info.tenantId, emu.info.clientId, { certificate: other.pem }, { authorityHost: emu.info.authorityHost, disableInstanceDiscovery: true });
    await expect(cred.getToken(GRAPH_SCOPE)).rejects.toThrow(/700027/);
  });

  test('assertion checks: signature, audience, issuer, lifetime', async () => {
    const x5t = Buffer.from(cert.thumbprintSha256, 'hex').toString('base64url');
    const form = (jwt: string): Record<string, string> =>
      credentialsForm({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });
    const good = await postToken(form(assertion(cert.privateKeyPem, { 'x5t#S256': x5t }, assertionPayload())));
    expect(good.status).toBe(200);

    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect((await postToken(form(assertion(forger, { 'x5t#S256': x5t }, assertionPayload())))).body).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
    expect((await postToken(form(assertion(cert.privateKeyPem, { 'x5t#S256': x5t }, assertionPayload('https://login.microsoftonline.com/x/oauth2/v2.0/token'))))).body.error_codes).toEqual([700212]);
    expect((await postToken(form(assertion(cert.privateKeyPem, { 'x5t#S256': x5t }, { ...assertionPayload(), iss: randomUUID() })))).body.error_codes).toEqual([700021]);
    const old = { ...assertionPayload(), nbf: 1_000_000, exp: 1_000_600 };
    expect((await postToken(form(assertion(cert.privateKeyPem, { 'x5t#S256': x5t }, old)))).body.error_codes).toEqual([700024]);
    expect((await postToken(form('not-a-jwt'))).body).toMatchObject({ error: 'invalid_request', error_codes: [50027] });
  });
});

describe('Graph bearer validation', () => {
  test('missing, malformed and foreign tokens → 401 InvalidAuthenticationToken with WWW-Authenticate', async () => {
    const none = await rawGraph(emu, 'GET', '/organization', { token: null });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
    expect(none.headers.get('www-authenticate')).toContain('authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"');
    const junk = await rawGraph(emu, 'GET', '/organization', { token: 'abc' });
    expect((junk.body as { error: { message: string } }).error.message).toBe('CompactToken parsing failed with error code: 80049217');
    const good = (await secretCredential(emu).getToken(GRAPH_SCOPE)).token;
    const [h, p] = good.split('.');
    const forged = `${h}.${b64({ ...claims(good), roles: ['Directory.ReadWrite.All'] })}.${good.split('.')[2]}`;
    expect((await rawGraph(emu, 'GET', '/organization', { token: forged })).status).toBe(401);
    expect(p).toBeTruthy();
  });

  test('expired token → 401 "Access token has expired or is not yet valid."; the SDK does not retry 401', async () => {
    const client = graphClient(emu);
    await client.api('/organization').get();
    emu.advanceClock(3600_000);
    try {
      const err = await graphError(client.api('/organization').get());
      expect(err.statusCode).toBe(401);
      expect(err.code).toBe('InvalidAuthenticationToken');
      expect(err.message).toBe('Access token has expired or is not yet valid.');
    } finally {
      emu.advanceClock(-3600_000);
    }
  });
});
