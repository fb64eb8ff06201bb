import { loadConfig, CONFIG_VARIABLES } from '../../shared/config.js';
import { readFileSync } from 'node:fs';
import { configProblems } from '../helpers/config.js';

const KEY = Buffer.alloc(32, 1).toString('base64');

const problems = configProblems;

describe('config', () => {
  it('has documented defaults and no targets without settings', () => {
    const c = loadConfig({});
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.prefix).toBe('{idsync}');
    expect(c.targets).toEqual([]);
    expect(c.keyring).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.jobs)).toBe(true);
  });

  it('enables every target whose settings are present', () => {
    const c = loadConfig({ CROWD_URL: 'http://crowd.local/crowd/', CROWD_APP_NAME: 'app', CROWD_APP_PASSWORD: 'pw' });
    expect(c.targets).toEqual(['crowd']);
    expect(c.crowd?.deletePolicy).toBe('deactivate');
  });

  it('names each bad variable and what it expects', () => {
    const p = problems({ REDIS_URL: 'http://x', IDSYNC_ATTEMPTS: 'many', IDSYNC_SECRET_KEY: 'short', IDSYNC_TARGETS: 'crowd,ldap', IDSYNC_PREFIX: 'a:b' });
    expect(Object.keys(p).sort()).toEqual(['IDSYNC_ATTEMPTS', 'IDSYNC_PREFIX', 'IDSYNC_SECRET_KEY', 'IDSYNC_TARGETS', 'REDIS_URL']);
    expect(p.REDIS_URL).toMatch(/redis:\/\//);
    expect(p.IDSYNC_ATTEMPTS).toMatch(/whole number/);
    expect(p.IDSYNC_SECRET_KEY).toMatch(/32 bytes/);
    expect(p.IDSYNC_TARGETS).toMatch(/unknown target ldap/);
  });

  it('requires the settings of a requested target', () => {
    const p = problems({ IDSYNC_TARGETS: 'crowd,entra' });
    expect(Object.keys(p).sort()).toEqual(['CROWD_APP_NAME', 'CROWD_APP_PASSWORD', 'CROWD_URL', 'ENTRA_CLIENT_ID', 'ENTRA_CLIENT_SECRET', 'ENTRA_TENANT_ID']);
  });

  it('insists on https for the Entra side', () => {
    const p = problems({ ENTRA_TENANT_ID: 't', ENTRA_CLIENT_ID: 'c', ENTRA_CLIENT_SECRET: 's', GRAPH_BASE_URL: 'http://127.0.0.1:1/' });
    expect(p.GRAPH_BASE_URL).toMatch(/https:\/\//);
  });

  it('never echoes a secret value in its message', () => {
    try {
      loadConfig({ IDSYNC_SECRET_KEY: 'hunter2-is-my-password' });
      throw new Error('should throw');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });

  it('builds a keyring that accepts previous keys', () => {
    const old = Buffer.alloc(32, 2).toString('hex');
    const c = loadConfig({ IDSYNC_SECRET_KEY: KEY, IDSYNC_PREVIOUS_SECRET_KEYS: old });
    const oldRing = loadConfig({ IDSYNC_SECRET_KEY: old }).keyring!;
    expect(c.keyring!.decrypt(oldRing.encrypt('x', 'a'), 'a')).toBe('x');
  });

  it('takes a partial authority map over the defaults, and names the variable of a bad one', () => {
    const c = loadConfig({ SYNC_AUTHORITY_CROWD: '{"lastName":"target"}' });
    expect(c.sync.authority.crowd).toMatchObject({ lastName: 'target', firstName: 'app', roles: 'target' });
    expect(c.sync.authority.entra).toMatchObject({ lastName: 'app', photo: 'target' });
    expect(() => loadConfig({ SYNC_AUTHORITY_ENTRA: '{"shoeSize":"target"}' })).toThrow(/SYNC_AUTHORITY_ENTRA/);
    expect(() => loadConfig({ SYNC_AUTHORITY_ENTRA: '{"email":"both"}' })).toThrow(/SYNC_AUTHORITY_ENTRA/);
  });

  it('chooses the application store from APP_* settings', () => {
    expect(loadConfig({}).app).toMatchObject({ kind: 'embedded', dataDir: '.idsync/app-db', table: 'idsync_users' });
    expect(loadConfig({ APP_DATABASE_URL: 'postgres://postgres@127.0.0.1/app' }).app).toMatchObject({ kind: 'sql' });
    expect(loadConfig({ APP_WEBHOOK_URL: 'https://app.example.com/idsync', APP_WEBHOOK_SECRET: 'x'.repeat(16) }).app).toMatchObject({ kind: 'webhook' });
    expect(() => loadConfig({ APP_WEBHOOK_URL: 'https://app.example.com/idsync' })).toThrow(/APP_WEBHOOK_SECRET/);
    expect(() => loadConfig({ APP_USERS_TABLE: 'users; drop table x' })).toThrow(/APP_USERS_TABLE/);
    expect(() => loadConfig({ SYNC_FULL_SCHEDULE: 'every night' })).toThrow(/SYNC_FULL_SCHEDULE/);
    expect(() => loadConfig({ IDSYNC_TIMEZONE: 'Mars/Olympus' })).toThrow(/IDSYNC_TIMEZONE/);
  });

  it('is documented: every variable appears in the README table', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const v of CONFIG_VARIABLES) expect(readme).toContain(`\`${v}\``);
  });
});
