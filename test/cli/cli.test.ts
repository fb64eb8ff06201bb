import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

// The `idsync` command as an operator runs it (from source through tsx, so no build step).
function idsync(args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', ...args], {
    env: { ...process.env, IDSYNC_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing a line`)));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  return code as number | null;
}

describe('idsync emulate', () => {
  it('crowd prints its connection info first, serves Crowd with those credentials, and stops on SIGTERM', async () => {
    const child = idsync(['emulate', 'crowd', '--app-name', 'cli-app', '--app-password', 'cli-Secret-1']);
    try {
      const info = JSON.parse(await firstLine(child));
      expect(info).toMatchObject({ applicationName: 'cli-app', applicationPassword: 'cli-Secret-1' });
      expect(info.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/crowd\/$/);
      const auth = (pw: string) => `Basic ${Buffer.from(`cli-app:${pw}`).toString('base64')}`;
      const url = `${info.baseUrl}rest/usermanagement/1/user?username=nobody`;
      const ok = await fetch(url, { headers: { authorization: auth('cli-Secret-1'), accept: 'application/json' } });
      expect(ok.status).toBe(404);
      expect(await ok.json()).toMatchObject({ reason: 'USER_NOT_FOUND' });
      const bad = await fetch(url, { headers: { authorization: auth('wrong'), accept: 'application/json' } });
      expect(bad.status).toBe(401);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('entra prints its connection info first and issues tokens over HTTPS for the printed client', async () => {
    // The default state directory holds the CA this test process trusts (NODE_EXTRA_CA_CERTS).
    const child = idsync(['emulate', 'entra']);
    try {
      const info = JSON.parse(await firstLine(child));
      for (const key of ['graphBaseUrl', 'authorityHost', 'tenantId', 'clientId', 'clientSecret', 'caFile']) expect(typeof info[key]).toBe('string');
      expect(info.tenantId).toMatch(/^[0-9a-f-]{36}$/);
      expect(info.graphBaseUrl).toMatch(/^https:\/\//);
      const token = await fetch(`${info.authorityHost}/${info.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: info.clientId,
          client_secret: info.clientSecret,
          scope: 'https://graph.microsoft.com/.default',
        }),
      });
      expect(token.status).toBe(200);
      const { access_token } = (await token.json()) as { access_token: string };
      const org = await fetch(new URL('v1.0/organization', info.graphBaseUrl), { headers: { authorization: `Bearer ${access_token}` } });
      expect(org.status).toBe(200);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('refuses a bad port with a readable message', async () => {
    const child = idsync(['emulate', 'crowd', '--port', 'eighty']);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('--port expects a whole number from 0 to 65535, got "eighty"');
  });
});

describe('idsync worker', () => {
  it('stops at start-up naming each bad variable, without a stack trace or the secret', async () => {
    const child = idsync(['worker', 'crowd'], { CROWD_URL: 'not a url', CROWD_APP_NAME: 'app', CROWD_APP_PASSWORD: 'Sekr1t-pw', CROWD_CONCURRENCY: 'many' });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('CROWD_URL');
    expect(stderr).toContain('CROWD_CONCURRENCY');
    expect(stderr).not.toContain('Sekr1t-pw');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an unknown target', async () => {
    const child = idsync(['worker', 'ldap']);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('unknown worker ldap; expected any of crowd, entra, sync, app');
  });
});

describe('idsync --version', () => {
  it('prints the package version', async () => {
    const child = idsync(['--version']);
    const [line] = await Promise.all([firstLine(child), once(child, 'exit')]);
    expect(line).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});
