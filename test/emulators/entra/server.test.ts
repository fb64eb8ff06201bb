import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ClientSecretCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { ensureCertificateAuthority, type EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, GRAPH_SCOPE, graphClient, rawGraph, secretCredential, startTestEmulator } from './helpers.js';

let emu: EntraEmulator;

beforeAll(async () => {
  emu = await startTestEmulator();
});
afterAll(() => emu.close());

function peerCertificate(port: number, servername?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (raw) resolve(raw);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });
}

describe('certificates', () => {
  test('the CA is created once, kept, and replaces an empty placeholder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'entra-ca-'));
    try {
      await writeFile(join(dir, 'ca.pem'), '');
      const results = await Promise.all([ensureCertificateAuthority(dir), ensureCertificateAuthority(dir), ensureCertificateAuthority(dir)]);
      expect(new Set(results.map((r) => r.caFile)).size).toBe(1);
      const first = await readFile(join(dir, 'ca.pem'), 'utf8');
      expect(new X509Certificate(first).ca).toBe(true);
      await ensureCertificateAuthority(dir);
      expect(await readFile(join(dir, 'ca.pem'), 'utf8')).toBe(first);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the server certificate is fresh per start, signed by the stable CA, for 127.0.0.1 and localhost', async () => {
    const ca = new X509Certificate(await readFile(emu.info.caFile, 'utf8'));
    const port = Number(new URL(emu.info.authorityHost).port);
    const cert = await peerCertificate(port);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toContain('DNS:localhost');
    const other = await startTestEmulator();
    try {
      const otherCert = await peerCertificate(Number(new URL(other.info.authorityHost).port));
      expect(otherCert.serialNumber).not.toBe(cert.serialNumber);
      expect(otherCert.verify(ca.publicKey)).toBe(true);
      expect(other.info.caFile).toBe(emu.info.caFile);
    } finally {
      await other.close();
    }
  });

  test('clients may use localhost: customHosts takes the bare host name, links follow the host used', async () => {
    const base = emu.info.graphBaseUrl.replace('127.0.0.1', 'localhost');
    const authorityHost = emu.info.authorityHost.replace('127.0.0.1', 'localhost');
    const cred = new ClientSecretCredential(emu.info.tenantId, emu.info.clientId, emu.info.clientSecret, { authorityHost, disableInstanceDiscovery: true });
    const client = Client.initWithMiddleware({ authProvider: new TokenCredentialAuthenticationProvider(cred, { scopes: [GRAPH_SCOPE] }), baseUrl: base, customHosts: new Set(['localhost']) });
    emu.seed({ generateUsers: { count: 3, prefix: 'lh' } });
    const page = await client.api('/users').top(1).get();
    expect(page['@odata.nextLink'].startsWith(`${base}v1.0/users?`)).toBe(true);
    expect((await client.api(page['@odata.nextLink']).get()).value).toHaveLength(1);
    emu.reset();
  });
});

describe('routing', () => {
  test('unknown segments → 400, wrong method → 405, other versions → 400 Invalid version', async () => {
    const unknown = await rawGraph(emu, 'GET', '/widgets');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { code: 'BadRequest', message: "Resource not found for the segment 'widgets'." } });
    expect((await rawGraph(emu, 'PUT', '/users')).status).toBe(405);
    const beta = await fetch(`${emu.info.graphBaseUrl}beta/users`);
    expect(beta.status).toBe(400);
  });
});

describe('admin endpoint (outside /v1.0, no token)', () => {
  const admin = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${emu.adminUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('info, seed, stats, faults, apps, delta knobs, clock, reset', async () => {
    expect((await admin('GET', '')).body).toMatchObject({ tenantId: emu.info.tenantId, graphBaseUrl: emu.info.graphBaseUrl });
    const seeded = await admin('POST', '/seed', { users: [{ userPrincipalName: `adm@${DOMAIN}`, jobTitle: 'Admin' }], groups: [{ displayName: 'Ops', members: [`adm@${DOMAIN}`] }], generateUsers: { count: 10 } });
    expect(seeded.body).toMatchObject({ generated: 10 });
    expect((await admin('GET', '/stats')).body).toMatchObject({ users: 11, groups: 1 });

    expect((await admin('POST', '/faults', { failNext: 1, failNextStatus: 500 })).body).toMatchObject({ failNext: 1 });
    expect((await admin('POST', '/faults', { failNext: -1 })).status).toBe(400);
    expect((await admin('POST', '/faults', { bogus: true })).status).toBe(400);
    expect((await rawGraph(emu, 'GET', '/organization')).status).toBe(500);

    const app = await admin('POST', '/apps', { roles: ['User.Read.All'] });
    expect(app.status).toBe(201);
    const token = await secretCredential(emu, app.body.clientId as string, app.body.clientSecret as string).getToken(GRAPH_SCOPE);
    expect((await rawGraph(emu, 'GET', '/users?$top=1', { token: token.token })).status).toBe(200);

    const delta = await graphClient(emu).api('/users/delta').get();
    const link = delta['@odata.nextLink'] ?? delta['@odata.deltaLink'];
    expect((await admin('POST', '/delta/reset')).status).toBe(200);
    expect((await rawGraph(emu, 'GET', link)).status).toBe(410);
    expect((await admin('POST', '/delta/expire')).status).toBe(200);

    expect((await admin('POST', '/clock/advance', { seconds: 1 })).status).toBe(200);
    expect((await admin('POST', '/reset')).status).toBe(200);
    expect((await admin('GET', '/stats')).body).toMatchObject({ users: 0, groups: 0, requests: 0 });
    expect((await admin('GET', '/nope')).status).toBe(404);
  });
});
