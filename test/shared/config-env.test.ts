// The configuration contract of shared/config.ts, variable by variable, against the README's
// configuration table (defaults, accepted forms, refusals and their messages, which targets the
// settings turn on), and the canonical JSON of shared/canonical-json.ts. Pure: loadConfig is
// called with a plain object as the environment; no Redis, no files, no processes.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { CONFIG_VARIABLES, STALL_DEFAULTS, defaultAuthority, loadConfig, type Env, type IdsyncConfig } from '../../shared/config.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { Keyring, keyId } from '../../shared/crypto.js';
import { InvalidEnvironmentError, type ValidationIssue } from '../../shared/errors.js';
import { clusterPrefixProblem } from '../../shared/redis-url.js';
import { APP_FIELDS } from '../../shared/jobs.js';

const MAX = Number.MAX_SAFE_INTEGER;
const KEY_HEX = Buffer.alloc(32, 0xab).toString('hex');
const KEY_B64 = Buffer.alloc(32, 0xcd).toString('base64');
const OLD_KEY = Buffer.alloc(32, 0x11).toString('base64');
const CROWD: Env = { CROWD_URL: 'https://crowd.example.com/crowd/', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'crowd-pw' };
const ENTRA: Env = { ENTRA_TENANT_ID: 'contoso.onmicrosoft.com', ENTRA_CLIENT_ID: '00000000-0000-0000-0000-000000000001', ENTRA_CLIENT_SECRET: 'entra-secret' };

/** The error loadConfig throws for `env`; fails the test when it accepts it. */
function refusal(env: Env): InvalidEnvironmentError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEnvironmentError);
    return e as InvalidEnvironmentError;
  }
  throw new Error(`expected loadConfig to refuse ${JSON.stringify(Object.keys(env))}`);
}

const issues = (env: Env): ValidationIssue[] => refusal(env).variables;
const paths = (env: Env): string[] => issues(env).map((i) => i.path);

// Every text form a refusal can reach a log or a terminal in.
const printable = (e: InvalidEnvironmentError): string =>
  [e.message, String(e), e.stack, JSON.stringify(e), JSON.stringify(e.variables), inspect(e, { depth: 10 })].join('\n');

const withTty = <T>(isTTY: boolean | undefined, fn: () => T): T => {
  const before = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  Object.defineProperty(process.stdout, 'isTTY', { value: isTTY, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    if (before) Object.defineProperty(process.stdout, 'isTTY', before);
    else delete (process.stdout as { isTTY?: boolean }).isTTY;
  }
};

describe('defaults (the README table, "default" column)', () => {
  it('gives the whole documented default config for an empty environment', () => {
    const c = withTty(false, () => loadConfig({}));
    expect(c).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: '{idsync}',
      keyring: undefined,
      targets: [],
      log: { level: 'info', format: 'json' },
      healthPort: 7070,
      jobs: { attempts: 8, backoffMs: 1000, maxBackoffMs: 300_000, passwordTtlMs: 3_600_000, coalesceWindowMs: 1000 },
      shutdownTimeoutMs: 25_000,
      quarantineProbeMs: 30_000,
      audit: { maxEntries: 1_000_000, maxAgeMs: 90 * 86_400_000 },
      stalls: { lockDurationMs: 15_000, stalledIntervalMs: 5000, maxStalledCount: 1 },
      crowd: undefined,
      entra: undefined,
      app: { kind: 'embedded', dataDir: '.idsync/app-db', table: 'idsync_users', columns: undefined, concurrency: 10 },
      sync: {
        deleteThreshold: 500,
        deleteThresholdPercent: 5,
        matchAttributes: ['username', 'email'],
        importUnmatched: true,
        authority: { crowd: defaultAuthority('crowd'), entra: defaultAuthority('entra') },
        fullSchedule: '0 2 * * *',
        incrementalSchedule: '*/15 * * * *',
        timezone: 'UTC',
      },
      http: { port: 8080, ingestToken: undefined, ingestSecret: undefined, adminToken: undefined },
    } satisfies IdsyncConfig);
  });

  it('gives the documented Crowd defaults once Crowd is configured', () => {
    expect(loadConfig(CROWD).crowd).toEqual({
      url: 'https://crowd.example.com/crowd/',
      applicationName: 'idsync',
      applicationPassword: 'crowd-pw',
      concurrency: 20,
      jobsPerSecond: undefined,
      timeoutMs: 10_000,
      deletePolicy: 'deactivate',
      requestsPerSecond: undefined,
      requestsMarginMs: 20,
      mappingModule: undefined,
      roleMap: {},
    });
  });

  it('gives the documented Entra defaults once Entra is configured', () => {
    expect(loadConfig(ENTRA).entra).toEqual({
      tenantId: 'contoso.onmicrosoft.com',
      clientId: '00000000-0000-0000-0000-000000000001',
      clientSecret: 'entra-secret',
      clientCertificatePath: undefined,
      authorityHost: 'https://login.microsoftonline.com',
      graphBaseUrl: 'https://graph.microsoft.com/',
      concurrency: 20,
      writesPerSecond: 20,
      timeoutMs: 30_000,
      deletePolicy: 'disable',
      matchAttributes: ['userPrincipalName'],
      upnDomain: undefined,
      mappingModule: undefined,
    });
  });

  it('treats an empty string as unset, for every variable', () => {
    const empty = Object.fromEntries(CONFIG_VARIABLES.map((v) => [v, '']));
    expect(withTty(false, () => loadConfig(empty))).toEqual(withTty(false, () => loadConfig({})));
  });

  it('ignores variables it does not read', () => {
    expect(loadConfig({ PATH: '/usr/bin', IDSYNC_ATTEMPT: 'not a number', crowd_url: 'x' }).jobs.attempts).toBe(8);
  });

  it('reads process.env when no environment is passed', () => {
    const before = process.env.IDSYNC_HEALTH_PORT;
    process.env.IDSYNC_HEALTH_PORT = '7171';
    try {
      expect(loadConfig().healthPort).toBe(7171);
    } finally {
      if (before === undefined) delete process.env.IDSYNC_HEALTH_PORT;
      else process.env.IDSYNC_HEALTH_PORT = before;
    }
  });

  it('keeps the stall defaults in one frozen object that the defaults above come from', () => {
    expect(STALL_DEFAULTS).toEqual({ lockDurationMs: 15_000, stalledIntervalMs: 5000, maxStalledCount: 1 });
    expect(Object.isFrozen(STALL_DEFAULTS)).toBe(true);
  });

  it('lets the application win every attribute by default, except Crowd roles and the Entra photo', () => {
    const appWinsAll = Object.fromEntries(APP_FIELDS.map((f) => [f, 'app']));
    expect(defaultAuthority('crowd')).toEqual({ ...appWinsAll, roles: 'target' });
    expect(defaultAuthority('entra')).toEqual({ ...appWinsAll, photo: 'target' });
    // A fresh object each time: callers spread their overrides over it.
    expect(defaultAuthority('crowd')).not.toBe(defaultAuthority('crowd'));
  });
});

describe('the README table and the module list the same variables', () => {
  it('documents every variable the module reads and reads every variable it documents', () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## How a job is handled'));
    const documented = [...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
    expect(new Set(CONFIG_VARIABLES).size).toBe(CONFIG_VARIABLES.length);
  });
});

/** One whole-number variable: its bounds, its documented default, where it lands. */
interface IntVar {
  name: string;
  min: number;
  max: number;
  dflt: number | undefined;
  get: (c: IdsyncConfig) => number | undefined;
  /** Other variables it needs to be read at all, or to stay within a cross-check. */
  base?: Env;
  /** How the value is stored (days → ms). */
  scale?: number;
}

const INT_VARS: IntVar[] = [
  { name: 'IDSYNC_HEALTH_PORT', min: 0, max: 65535, dflt: 7070, get: (c) => c.healthPort },
  { name: 'IDSYNC_HTTP_PORT', min: 0, max: 65535, dflt: 8080, get: (c) => c.http.port },
  { name: 'IDSYNC_ATTEMPTS', min: 1, max: 1000, dflt: 8, get: (c) => c.jobs.attempts },
  { name: 'IDSYNC_BACKOFF_MS', min: 1, max: MAX, dflt: 1000, get: (c) => c.jobs.backoffMs },
  { name: 'IDSYNC_MAX_BACKOFF_MS', min: 1, max: MAX, dflt: 300_000, get: (c) => c.jobs.maxBackoffMs },
  { name: 'IDSYNC_SHUTDOWN_TIMEOUT_MS', min: 0, max: MAX, dflt: 25_000, get: (c) => c.shutdownTimeoutMs },
  { name: 'IDSYNC_QUARANTINE_PROBE_MS', min: 10, max: MAX, dflt: 30_000, get: (c) => c.quarantineProbeMs },
  { name: 'IDSYNC_PASSWORD_TTL_MS', min: 1000, max: MAX, dflt: 3_600_000, get: (c) => c.jobs.passwordTtlMs },
  { name: 'IDSYNC_COALESCE_WINDOW_MS', min: 0, max: 3_600_000, dflt: 1000, get: (c) => c.jobs.coalesceWindowMs },
  { name: 'IDSYNC_AUDIT_MAX_ENTRIES', min: 100, max: MAX, dflt: 1_000_000, get: (c) => c.audit.maxEntries },
  { name: 'IDSYNC_AUDIT_MAX_AGE_DAYS', min: 1, max: MAX, dflt: 90, get: (c) => c.audit.maxAgeMs, scale: 86_400_000 },
  { name: 'IDSYNC_LOCK_DURATION_MS', min: 1000, max: MAX, dflt: 15_000, get: (c) => c.stalls.lockDurationMs, base: { IDSYNC_STALLED_INTERVAL_MS: '100' } },
  { name: 'IDSYNC_STALLED_INTERVAL_MS', min: 100, max: MAX, dflt: 5000, get: (c) => c.stalls.stalledIntervalMs, base: { IDSYNC_LOCK_DURATION_MS: String(MAX) } },
  { name: 'IDSYNC_MAX_STALLED_COUNT', min: 0, max: 1000, dflt: 1, get: (c) => c.stalls.maxStalledCount },
  { name: 'CROWD_CONCURRENCY', min: 1, max: 1000, dflt: 20, get: (c) => c.crowd?.concurrency, base: CROWD },
  { name: 'CROWD_JOBS_PER_SECOND', min: 1, max: MAX, dflt: undefined, get: (c) => c.crowd?.jobsPerSecond, base: CROWD },
  { name: 'CROWD_TIMEOUT_MS', min: 100, max: MAX, dflt: 10_000, get: (c) => c.crowd?.timeoutMs, base: CROWD },
  { name: 'CROWD_REQUESTS_PER_SECOND', min: 1, max: MAX, dflt: undefined, get: (c) => c.crowd?.requestsPerSecond, base: CROWD },
  { name: 'CROWD_REQUESTS_MARGIN_MS', min: 0, max: 999, dflt: 20, get: (c) => c.crowd?.requestsMarginMs, base: CROWD },
  { name: 'ENTRA_CONCURRENCY', min: 1, max: 1000, dflt: 20, get: (c) => c.entra?.concurrency, base: ENTRA },
  { name: 'ENTRA_WRITES_PER_SECOND', min: 1, max: MAX, dflt: 20, get: (c) => c.entra?.writesPerSecond, base: ENTRA },
  { name: 'ENTRA_TIMEOUT_MS', min: 100, max: MAX, dflt: 30_000, get: (c) => c.entra?.timeoutMs, base: ENTRA },
  { name: 'APP_CONCURRENCY', min: 1, max: 1000, dflt: 10, get: (c) => c.app.concurrency },
  { name: 'SYNC_DELETE_THRESHOLD', min: 0, max: MAX, dflt: 500, get: (c) => c.sync.deleteThreshold },
];

describe.each(INT_VARS)('whole-number variable $name', ({ name, min, max, dflt, get, base = {}, scale = 1 }) => {
  const load = (v?: string) => get(loadConfig({ ...base, ...(v === undefined ? {} : { [name]: v }) }));
  const wholeNumber = `expected a whole number ${max === MAX ? `of at least ${min}` : `from ${min} to ${max}`}`;

  it('has the documented default, unset or empty', () => {
    expect(load()).toBe(dflt === undefined ? undefined : dflt * scale);
    expect(load('')).toBe(load());
  });

  it('accepts its lower and upper bound, and surrounding blanks', () => {
    expect(load(String(min))).toBe(min * scale);
    expect(load(String(max))).toBe(max * scale);
    expect(load(` ${min + 1}\t`)).toBe((min + 1) * scale);
  });

  it('refuses one below its lower bound, naming the bound', () => {
    if (min === 0) expect(issues({ ...base, [name]: '-1' })).toEqual([{ path: name, message: wholeNumber }]);
    else expect(issues({ ...base, [name]: String(min - 1) })).toEqual([{ path: name, message: `expected at least ${min}` }]);
  });

  it('refuses one above its upper bound, naming the bound once', () => {
    expect(issues({ ...base, [name]: (BigInt(max) + 1n).toString() })).toEqual([{ path: name, message: `expected at most ${max}` }]);
  });

  it.each(['-1', '1.5', '1e3', '0x10', '+5', 'a5', '5a', 'ten', ' '])('refuses %j as not a whole number', (bad) => {
    if (bad === '-1' && min > 0) return; // a negative is the lower-bound case above when 0 is allowed
    expect(issues({ ...base, [name]: bad })).toEqual([{ path: name, message: wholeNumber }]);
  });
});

describe('numbers with their own rules', () => {
  it('stores the audit age in milliseconds of whole days', () => {
    expect(loadConfig({ IDSYNC_AUDIT_MAX_AGE_DAYS: '2' }).audit.maxAgeMs).toBe(172_800_000);
  });

  it('reads SYNC_DELETE_THRESHOLD_PERCENT as a percentage from 0 to 100, fractions allowed', () => {
    const pct = (v: string) => loadConfig({ SYNC_DELETE_THRESHOLD_PERCENT: v }).sync.deleteThresholdPercent;
    expect(pct('0')).toBe(0);
    expect(pct('100')).toBe(100);
    expect(pct('12.5')).toBe(12.5);
    expect(pct(' 7 ')).toBe(7);
    expect(pct('100.0')).toBe(100);
    expect(issues({ SYNC_DELETE_THRESHOLD_PERCENT: '100.01' })).toEqual([{ path: 'SYNC_DELETE_THRESHOLD_PERCENT', message: 'expected at most 100' }]);
    for (const bad of ['-1', '.5', '5.', '1e1', 'x5', '5x', 'five', '5%']) {
      expect([bad, issues({ SYNC_DELETE_THRESHOLD_PERCENT: bad })]).toEqual([bad, [{ path: 'SYNC_DELETE_THRESHOLD_PERCENT', message: 'expected a percentage from 0 to 100' }]]);
    }
  });

  it('lets the stall interval equal the lock duration but not exceed it', () => {
    expect(loadConfig({ IDSYNC_LOCK_DURATION_MS: '5000', IDSYNC_STALLED_INTERVAL_MS: '5000' }).stalls).toEqual({ lockDurationMs: 5000, stalledIntervalMs: 5000, maxStalledCount: 1 });
    expect(issues({ IDSYNC_LOCK_DURATION_MS: '5000', IDSYNC_STALLED_INTERVAL_MS: '5001' })).toEqual([
      { path: 'IDSYNC_STALLED_INTERVAL_MS', message: expect.stringMatching(/^expected at most IDSYNC_LOCK_DURATION_MS \(a stall cannot be seen before the lock expires/) },
    ]);
    // The default interval (5000) against a shorter lock: the cross-check uses defaults too.
    expect(paths({ IDSYNC_LOCK_DURATION_MS: '4999' })).toEqual(['IDSYNC_STALLED_INTERVAL_MS']);
  });
});

describe('choices, switches and lists', () => {
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('takes log level %s', (level) => {
    expect(loadConfig({ IDSYNC_LOG_LEVEL: level }).log.level).toBe(level);
  });

  it('refuses an unknown log level, listing the levels', () => {
    const [issue, ...rest] = issues({ IDSYNC_LOG_LEVEL: 'loud' });
    expect(rest).toEqual([]);
    expect(issue!.path).toBe('IDSYNC_LOG_LEVEL');
    for (const level of ['fatal', 'trace', 'silent']) expect(issue!.message).toContain(level);
    expect(paths({ IDSYNC_LOG_LEVEL: 'INFO' })).toEqual(['IDSYNC_LOG_LEVEL']);
  });

  it('logs pretty on a terminal and JSON otherwise when the format is auto, and as told otherwise', () => {
    for (const env of [{}, { IDSYNC_LOG_FORMAT: 'auto' }]) {
      expect(withTty(true, () => loadConfig(env).log.format)).toBe('pretty');
      expect(withTty(false, () => loadConfig(env).log.format)).toBe('json');
      expect(withTty(undefined, () => loadConfig(env).log.format)).toBe('json');
    }
    expect(withTty(true, () => loadConfig({ IDSYNC_LOG_FORMAT: 'json' }).log.format)).toBe('json');
    expect(withTty(false, () => loadConfig({ IDSYNC_LOG_FORMAT: 'pretty' }).log.format)).toBe('pretty');
    expect(paths({ IDSYNC_LOG_FORMAT: 'xml' })).toEqual(['IDSYNC_LOG_FORMAT']);
  });

  it('takes each delete policy and refuses another', () => {
    expect(loadConfig({ ...CROWD, CROWD_DELETE_POLICY: 'delete' }).crowd?.deletePolicy).toBe('delete');
    expect(loadConfig({ ...CROWD, CROWD_DELETE_POLICY: 'deactivate' }).crowd?.deletePolicy).toBe('deactivate');
    expect(loadConfig({ ...ENTRA, ENTRA_DELETE_POLICY: 'delete' }).entra?.deletePolicy).toBe('delete');
    expect(loadConfig({ ...ENTRA, ENTRA_DELETE_POLICY: 'disable' }).entra?.deletePolicy).toBe('disable');
    expect(paths({ ...CROWD, CROWD_DELETE_POLICY: 'disable' })).toEqual(['CROWD_DELETE_POLICY']);
    expect(paths({ ...ENTRA, ENTRA_DELETE_POLICY: 'deactivate' })).toEqual(['ENTRA_DELETE_POLICY']);
  });

  it('reads SYNC_IMPORT_UNMATCHED as exactly true or false', () => {
    expect(loadConfig({ SYNC_IMPORT_UNMATCHED: 'true' }).sync.importUnmatched).toBe(true);
    expect(loadConfig({ SYNC_IMPORT_UNMATCHED: 'false' }).sync.importUnmatched).toBe(false);
    for (const bad of ['TRUE', 'False', '1', '0', 'yes', 'no', ' true']) {
      expect([bad, paths({ SYNC_IMPORT_UNMATCHED: bad })]).toEqual([bad, ['SYNC_IMPORT_UNMATCHED']]);
    }
  });

  it('reads IDSYNC_TARGETS case-insensitively, without blanks, empty entries or repeats, in the given order', () => {
    const both = { ...CROWD, ...ENTRA };
    expect(loadConfig({ ...both, IDSYNC_TARGETS: ' Entra , CROWD,entra,' }).targets).toEqual(['entra', 'crowd']);
    expect(loadConfig({ ...both, IDSYNC_TARGETS: 'crowd' }).targets).toEqual(['crowd']);
  });

  it('refuses an unknown target, naming it and the known ones', () => {
    expect(issues({ IDSYNC_TARGETS: 'crowd,ldap,AD' })).toEqual([
      { path: 'IDSYNC_TARGETS', message: 'unknown target ldap, ad; expected a comma-separated list of crowd, entra' },
    ]);
  });

  it('reads SYNC_MATCH_ATTRIBUTES in order and refuses unknown or no attributes', () => {
    const match = (v: string) => loadConfig({ SYNC_MATCH_ATTRIBUTES: v }).sync.matchAttributes;
    expect(match('email')).toEqual(['email']);
    expect(match(' email , username,')).toEqual(['email', 'username']);
    for (const bad of ['mail', 'username,Email', ',', ' , ']) {
      expect([bad, issues({ SYNC_MATCH_ATTRIBUTES: bad })]).toEqual([bad, [{ path: 'SYNC_MATCH_ATTRIBUTES', message: 'expected a comma-separated list of username, email' }]]);
    }
  });

  it('reads ENTRA_MATCH_ATTRIBUTES in order and refuses unknown or no attributes', () => {
    const match = (v: string) => loadConfig({ ...ENTRA, ENTRA_MATCH_ATTRIBUTES: v }).entra?.matchAttributes;
    expect(match('employeeId, onPremisesImmutableId ,mail,userPrincipalName,')).toEqual(['employeeId', 'onPremisesImmutableId', 'mail', 'userPrincipalName']);
    for (const bad of ['upn', 'mail,Mail', ',']) {
      expect([bad, issues({ ...ENTRA, ENTRA_MATCH_ATTRIBUTES: bad })]).toEqual([
        bad,
        [{ path: 'ENTRA_MATCH_ATTRIBUTES', message: 'expected a comma-separated list of userPrincipalName, employeeId, onPremisesImmutableId, mail' }],
      ]);
    }
  });
});

describe('JSON maps', () => {
  it('reads CROWD_ROLE_MAP as group → role, many groups to one role', () => {
    const map = { 'jira-admins': 'admin', 'confluence-admins': 'admin', staff: 'user' };
    expect(loadConfig({ ...CROWD, CROWD_ROLE_MAP: JSON.stringify(map) }).crowd?.roleMap).toEqual(map);
    expect(loadConfig({ ...CROWD, CROWD_ROLE_MAP: '{}' }).crowd?.roleMap).toEqual({});
  });

  it('refuses a CROWD_ROLE_MAP that is not a JSON object of non-empty names', () => {
    const message = 'expected a JSON object of Crowd group name → app role, e.g. {"jira-admins":"admin"}';
    for (const bad of ['{', 'null', '[]', '["a"]', '"admin"', '{"a":1}', '{"":"admin"}', '{"a":""}', '{"a":["admin"]}']) {
      expect([bad, issues({ ...CROWD, CROWD_ROLE_MAP: bad })]).toEqual([bad, [{ path: 'CROWD_ROLE_MAP', message }]]);
    }
  });

  it('reads APP_USERS_COLUMNS as field → column and refuses anything else', () => {
    const columns = { id: 'uid', username: 'login', email: 'mail' };
    expect(loadConfig({ APP_USERS_COLUMNS: JSON.stringify(columns) }).app).toMatchObject({ kind: 'embedded', columns });
    expect(loadConfig({ APP_DATABASE_URL: 'postgres://db/app', APP_USERS_COLUMNS: JSON.stringify(columns) }).app).toMatchObject({ kind: 'sql', columns });
    const message = 'expected a JSON object of idsync field → column name, e.g. {"id":"uid","username":"login","email":"mail"}';
    for (const bad of ['id=uid', '{"id":""}', '{"":"uid"}', '{"id":true}', '[]']) {
      expect([bad, issues({ APP_USERS_COLUMNS: bad })]).toEqual([bad, [{ path: 'APP_USERS_COLUMNS', message }]]);
    }
  });

  it('lays a partial authority map over each target\'s defaults', () => {
    const c = loadConfig({ SYNC_AUTHORITY_CROWD: '{"roles":"app","email":"target"}', SYNC_AUTHORITY_ENTRA: '{}' });
    expect(c.sync.authority).toEqual({
      crowd: { ...defaultAuthority('crowd'), roles: 'app', email: 'target' },
      entra: defaultAuthority('entra'),
    });
    expect(loadConfig({ SYNC_AUTHORITY_ENTRA: '{"photo":"app","groups":"target"}' }).sync.authority.entra).toEqual({ ...defaultAuthority('entra'), photo: 'app', groups: 'target' });
  });

  it('refuses an authority map with an unknown attribute or side, listing the allowed ones', () => {
    const message = `expected a JSON object of attribute → "app" or "target", attributes among ${APP_FIELDS.join(', ')}`;
    for (const name of ['SYNC_AUTHORITY_CROWD', 'SYNC_AUTHORITY_ENTRA']) {
      for (const bad of ['{"shoeSize":"app"}', '{"email":"both"}', '{"email":"Target"}', '[]', 'app']) {
        expect([name, bad, issues({ [name]: bad })]).toEqual([name, bad, [{ path: name, message }]]);
      }
    }
  });
});

describe('URLs', () => {
  it('takes a Redis server or cluster URL, trimmed', () => {
    for (const u of ['redis://h:1', 'rediss://user:pw@h:6380/2', 'redis+cluster://a:1,b:2', 'rediss+cluster://a:1']) {
      expect(loadConfig({ REDIS_URL: u }).redisUrl).toBe(u);
    }
    expect(loadConfig({ REDIS_URL: ' redis://h:1 ' }).redisUrl).toBe('redis://h:1');
  });

  it('refuses a REDIS_URL of another scheme or without a host, naming the four schemes it takes', () => {
    // `redis:10.0.0.5:6380` would connect to a host named "10.0.0.5"… or fail only at connect time; `redis://` to localhost.
    for (const bad of ['http://h:6379', '127.0.0.1:6379', 'redis', 'redis+sentinel://h:1', 'redis:10.0.0.5:6380', 'redis:', 'redis://', 'rediss:///0']) {
      expect([bad, issues({ REDIS_URL: bad })]).toEqual([bad, [{ path: 'REDIS_URL', message: 'expected a URL starting with redis://, rediss://, redis+cluster:// or rediss+cluster:// and naming a host' }]]);
    }
  });

  it('refuses a malformed cluster URL with what is wrong with it', () => {
    expect(issues({ REDIS_URL: 'redis+cluster://a:1,,b:2' })).toEqual([{ path: 'REDIS_URL', message: 'expected one or more host:port seed nodes separated by commas' }]);
    expect(issues({ REDIS_URL: 'redis+cluster://a:1/3' })).toEqual([{ path: 'REDIS_URL', message: expect.stringMatching(/^a cluster has one database/) }]);
  });

  it('needs a hash-tagged prefix on a cluster only', () => {
    expect(loadConfig({ REDIS_URL: 'redis://h:1', IDSYNC_PREFIX: 'plain' }).prefix).toBe('plain');
    expect(loadConfig({ REDIS_URL: 'redis+cluster://a:1', IDSYNC_PREFIX: 'app-{a}' }).prefix).toBe('app-{a}');
    expect(issues({ REDIS_URL: 'redis+cluster://a:1', IDSYNC_PREFIX: 'plain' })).toEqual([{ path: 'IDSYNC_PREFIX', message: clusterPrefixProblem('plain') }]);
  });

  it('takes an http or https CROWD_URL and APP_WEBHOOK_URL, trimmed, and refuses other schemes', () => {
    expect(loadConfig({ ...CROWD, CROWD_URL: ' http://crowd:8095/crowd ' }).crowd?.url).toBe('http://crowd:8095/crowd');
    expect(loadConfig({ APP_WEBHOOK_URL: 'http://app/idsync?q=1', APP_WEBHOOK_SECRET: 'x'.repeat(16) }).app).toMatchObject({ url: 'http://app/idsync?q=1' });
    const message = 'expected a URL starting with http:// or https:// and naming a host';
    // `https:crowd` and `https:` parse as URLs, but a client would read another host (or none) from them.
    for (const bad of ['ftp://crowd/', 'crowd.example.com', 'https//crowd', 'https:crowd.example.com', 'https:']) {
      expect([bad, issues({ ...CROWD, CROWD_URL: bad })]).toEqual([bad, [{ path: 'CROWD_URL', message }]]);
      expect([bad, issues({ APP_WEBHOOK_URL: bad, APP_WEBHOOK_SECRET: 'x'.repeat(16) })]).toEqual([bad, [{ path: 'APP_WEBHOOK_URL', message }]]);
    }
  });

  it('takes https only for the Entra authority and Graph', () => {
    const c = loadConfig({ ...ENTRA, ENTRA_AUTHORITY_HOST: 'https://login.example.com', GRAPH_BASE_URL: ' https://127.0.0.1:8443/graph/ ' });
    expect(c.entra).toMatchObject({ authorityHost: 'https://login.example.com', graphBaseUrl: 'https://127.0.0.1:8443/graph/' });
    for (const name of ['ENTRA_AUTHORITY_HOST', 'GRAPH_BASE_URL']) {
      for (const bad of ['http://login.example.com', 'login.example.com', 'https:login.example.com']) {
        expect([name, bad, issues({ ...ENTRA, [name]: bad })]).toEqual([name, bad, [{ path: name, message: 'expected a URL starting with https:// and naming a host' }]]);
      }
    }
  });

  it('takes a postgres:// or postgresql:// APP_DATABASE_URL for the SQL store', () => {
    // No host is PostgreSQL's local socket.
    for (const u of ['postgres://postgres@127.0.0.1:5432/app', 'postgresql://db/app', 'postgres:///app?host=/var/run/postgresql']) {
      expect(loadConfig({ APP_DATABASE_URL: u }).app).toEqual({ kind: 'sql', databaseUrl: u, table: 'idsync_users', columns: undefined, concurrency: 10 });
    }
    for (const bad of ['mysql://db/app', 'db/app', 'https://db/app', 'postgres:app']) {
      expect([bad, issues({ APP_DATABASE_URL: bad })]).toEqual([bad, [{ path: 'APP_DATABASE_URL', message: 'expected a URL starting with postgres:// or postgresql://' }]]);
    }
  });
});

describe('names, paths and text settings', () => {
  it('takes a trimmed IDSYNC_PREFIX without ":"', () => {
    expect(loadConfig({ IDSYNC_PREFIX: ' {app-1} ' }).prefix).toBe('{app-1}');
    expect(issues({ IDSYNC_PREFIX: 'a:b' })).toEqual([{ path: 'IDSYNC_PREFIX', message: 'must not contain ":"' }]);
    expect(paths({ IDSYNC_PREFIX: ' ' })).toEqual(['IDSYNC_PREFIX']);
  });

  it('takes a table name, optionally schema-qualified, and refuses anything that is not one identifier or two', () => {
    for (const t of ['users', 'app.users', '_u$1', 'App_Users.T2']) {
      expect(loadConfig({ APP_USERS_TABLE: t }).app).toMatchObject({ table: t });
    }
    expect(loadConfig({ APP_USERS_TABLE: ' users ' }).app).toMatchObject({ table: 'users' });
    const message = 'expected a table name, optionally schema-qualified (schema.table)';
    for (const bad of ['1users', 'a.b.c', 'a-b', 'users;', ';users', 'a.', '.a', 'app.1t', '"users"', 'us ers']) {
      expect([bad, issues({ APP_USERS_TABLE: bad })]).toEqual([bad, [{ path: 'APP_USERS_TABLE', message }]]);
    }
  });

  it('takes a trimmed embedded database directory and refuses a blank one', () => {
    expect(loadConfig({ APP_EMBEDDED_DB_DIR: ' /var/lib/idsync ' }).app).toEqual({ kind: 'embedded', dataDir: '/var/lib/idsync', table: 'idsync_users', columns: undefined, concurrency: 10 });
    expect(paths({ APP_EMBEDDED_DB_DIR: '  ' })).toEqual(['APP_EMBEDDED_DB_DIR']);
  });

  it('takes a tenant id as a GUID or a domain, trimmed', () => {
    for (const t of ['72f988bf-86f1-41af-91ab-2d7cd011db47', 'contoso.onmicrosoft.com']) {
      expect(loadConfig({ ...ENTRA, ENTRA_TENANT_ID: ` ${t} ` }).entra?.tenantId).toBe(t);
    }
    for (const bad of ['a b', 'a/b', 'tenant_1', 'x/contoso', 'contoso/x']) {
      expect([bad, issues({ ...ENTRA, ENTRA_TENANT_ID: bad })]).toEqual([bad, [{ path: 'ENTRA_TENANT_ID', message: 'expected a tenant id (GUID or domain)' }]]);
    }
  });

  it('takes a trimmed client id and refuses a blank one', () => {
    expect(loadConfig({ ...ENTRA, ENTRA_CLIENT_ID: ' app-1 ' }).entra?.clientId).toBe('app-1');
    expect(paths({ ...ENTRA, ENTRA_CLIENT_ID: '   ' })).toEqual(['ENTRA_CLIENT_ID']);
  });

  it('takes a domain name for derived UPNs and refuses anything else', () => {
    expect(loadConfig({ ...ENTRA, ENTRA_UPN_DOMAIN: ' Contoso.COM ' }).entra?.upnDomain).toBe('Contoso.COM');
    expect(loadConfig({ ...ENTRA, ENTRA_UPN_DOMAIN: 'a-1.b.onmicrosoft.com' }).entra?.upnDomain).toBe('a-1.b.onmicrosoft.com');
    for (const bad of ['contoso', 'contoso.c', 'contoso.c0m', 'a b.com', 'x/contoso.com', 'contoso.com/x', '@contoso.com']) {
      expect([bad, issues({ ...ENTRA, ENTRA_UPN_DOMAIN: bad })]).toEqual([bad, [{ path: 'ENTRA_UPN_DOMAIN', message: 'expected a domain name, e.g. contoso.onmicrosoft.com' }]]);
    }
  });

  it('passes mapping modules, the certificate path and the Crowd application name through as given', () => {
    const c = loadConfig({
      ...CROWD, CROWD_APP_NAME: ' app ', CROWD_MAPPING_MODULE: './crowd-map.mjs',
      ENTRA_TENANT_ID: 't', ENTRA_CLIENT_ID: 'c', ENTRA_CLIENT_CERTIFICATE_PATH: '/etc/idsync/entra.pem', ENTRA_MAPPING_MODULE: './entra-map.mjs',
    });
    expect(c.crowd).toMatchObject({ applicationName: ' app ', mappingModule: './crowd-map.mjs' });
    expect(c.entra).toMatchObject({ clientSecret: undefined, clientCertificatePath: '/etc/idsync/entra.pem', mappingModule: './entra-map.mjs' });
  });

  it('keeps secrets exactly as given, blanks included', () => {
    const c = loadConfig({ ...CROWD, ...ENTRA, CROWD_APP_PASSWORD: ' pw ', ENTRA_CLIENT_SECRET: ' s ' });
    expect([c.crowd?.applicationPassword, c.entra?.clientSecret]).toEqual([' pw ', ' s ']);
  });

  it('needs at least 16 characters of webhook secret and 24 of each HTTP token', () => {
    const url = 'https://app.example.com/idsync';
    expect(loadConfig({ APP_WEBHOOK_URL: url, APP_WEBHOOK_SECRET: 's'.repeat(16) }).app).toEqual({ kind: 'webhook', url, secret: 's'.repeat(16), concurrency: 10 });
    expect(issues({ APP_WEBHOOK_URL: url, APP_WEBHOOK_SECRET: 's'.repeat(15) })).toEqual([{ path: 'APP_WEBHOOK_SECRET', message: 'expected at least 16 characters' }]);
    const tokens = { IDSYNC_INGEST_TOKEN: 't'.repeat(24), IDSYNC_INGEST_SECRET: 'i'.repeat(25), IDSYNC_ADMIN_TOKEN: 'a'.repeat(24) };
    expect(loadConfig(tokens).http).toEqual({ port: 8080, ingestToken: 't'.repeat(24), ingestSecret: 'i'.repeat(25), adminToken: 'a'.repeat(24) });
    const short = { IDSYNC_INGEST_TOKEN: 't'.repeat(23), IDSYNC_INGEST_SECRET: 'i'.repeat(23), IDSYNC_ADMIN_TOKEN: 'a'.repeat(23) };
    expect(issues(short)).toEqual(Object.keys(short).map((path) => ({ path, message: 'expected at least 24 characters' })));
  });
});

describe('schedules and time zone', () => {
  const full = (v: string) => loadConfig({ SYNC_FULL_SCHEDULE: v }).sync.fullSchedule;
  const cronMessage = 'expected a cron expression (5 or 6 fields, e.g. "0 2 * * *") or "off"';

  it('takes cron expressions of five or six fields with every cron character', () => {
    for (const cron of ['*/15 0-6 1,15 * MON-FRI', '0 0 2 ? * MON#2', '0 0 12 L * ?', '0 0 12 15W * *']) expect(full(cron)).toBe(cron);
    expect(full(' 0  2\t* * * ')).toBe('0  2\t* * *');
    expect(loadConfig({ SYNC_INCREMENTAL_SCHEDULE: '*/5 * * * *' }).sync.incrementalSchedule).toBe('*/5 * * * *');
  });

  it('turns a schedule off with "off"', () => {
    const c = loadConfig({ SYNC_FULL_SCHEDULE: 'off', SYNC_INCREMENTAL_SCHEDULE: ' off ' });
    expect([c.sync.fullSchedule, c.sync.incrementalSchedule]).toEqual([undefined, undefined]);
  });

  it('refuses anything else, for either schedule', () => {
    for (const name of ['SYNC_FULL_SCHEDULE', 'SYNC_INCREMENTAL_SCHEDULE']) {
      for (const bad of ['0 2 * *', '0 0 2 * * * *', 'every night', 'OFF', 'never', '0 2 * * * $', '0 2 * * (1)', '0 2 * * (1', '0 2 * * 1)']) {
        expect([name, bad, issues({ [name]: bad })]).toEqual([name, bad, [{ path: name, message: cronMessage }]]);
      }
    }
  });

  it('takes an IANA time zone, trimmed, and refuses an unknown one', () => {
    expect(loadConfig({ IDSYNC_TIMEZONE: ' Europe/Berlin ' }).sync.timezone).toBe('Europe/Berlin');
    expect(issues({ IDSYNC_TIMEZONE: 'Mars/Olympus' })).toEqual([{ path: 'IDSYNC_TIMEZONE', message: 'expected an IANA time zone, e.g. UTC or Europe/Berlin' }]);
  });
});

describe('the password keys', () => {
  it('builds a keyring from a hex or base64 key, trimmed', () => {
    expect(loadConfig({ IDSYNC_SECRET_KEY: ` ${KEY_HEX} ` }).keyring?.currentKeyId).toBe(keyId(Buffer.from(KEY_HEX, 'hex')));
    expect(loadConfig({ IDSYNC_SECRET_KEY: KEY_B64 }).keyring?.currentKeyId).toBe(keyId(Buffer.from(KEY_B64, 'base64')));
    expect(loadConfig({ IDSYNC_SECRET_KEY: KEY_B64 }).keyring).toBeInstanceOf(Keyring);
  });

  it('decrypts with every previous key, blanks and empty entries skipped', () => {
    const envelopes = [OLD_KEY, KEY_B64].map((k) => loadConfig({ IDSYNC_SECRET_KEY: k }).keyring!.encrypt('pw', 'crowd:u1'));
    const ring = loadConfig({ IDSYNC_SECRET_KEY: KEY_HEX, IDSYNC_PREVIOUS_SECRET_KEYS: ` ${OLD_KEY} ,, ${KEY_B64},` }).keyring!;
    expect(ring.currentKeyId).toBe(keyId(Buffer.from(KEY_HEX, 'hex')));
    for (const e of envelopes) expect(ring.decrypt(e, 'crowd:u1')).toBe('pw');
  });

  it('refuses a key of the wrong length, saying what a key is', () => {
    expect(issues({ IDSYNC_SECRET_KEY: 'abc' })).toEqual([{ path: 'IDSYNC_SECRET_KEY', message: 'expected 32 bytes as hex (64 hex digits), got 3 hex digits' }]);
  });

  it('reports each bad previous key by its position', () => {
    expect(issues({ IDSYNC_SECRET_KEY: KEY_HEX, IDSYNC_PREVIOUS_SECRET_KEYS: `abc, ${OLD_KEY}, ${'0'.repeat(62)}` })).toEqual([
      { path: 'IDSYNC_PREVIOUS_SECRET_KEYS', message: 'key #1: expected 32 bytes as hex (64 hex digits), got 3 hex digits' },
      { path: 'IDSYNC_PREVIOUS_SECRET_KEYS', message: 'key #3: expected 32 bytes as hex (64 hex digits), got 62 hex digits' },
    ]);
  });

  it('needs a current key when previous keys are set, but not for a list with no keys in it', () => {
    expect(issues({ IDSYNC_PREVIOUS_SECRET_KEYS: OLD_KEY })).toEqual([{ path: 'IDSYNC_SECRET_KEY', message: 'required when IDSYNC_PREVIOUS_SECRET_KEYS is set' }]);
    expect(loadConfig({ IDSYNC_PREVIOUS_SECRET_KEYS: ' , ' }).keyring).toBeUndefined();
  });
});

describe('targets: which are on, and what each needs', () => {
  it('turns on every target whose settings are present', () => {
    expect(loadConfig(CROWD).targets).toEqual(['crowd']);
    expect(loadConfig(ENTRA).targets).toEqual(['entra']);
    const both = loadConfig({ ...ENTRA, ...CROWD });
    expect(both.targets).toEqual(['crowd', 'entra']);
    expect([both.crowd?.url, both.entra?.tenantId]).toEqual([CROWD.CROWD_URL, ENTRA.ENTRA_TENANT_ID]);
  });

  it.each(Object.keys(CROWD))('needs all three Crowd settings once %s is set', (name) => {
    const others = Object.keys(CROWD).filter((v) => v !== name);
    expect(issues({ [name]: CROWD[name]! })).toEqual(others.map((path) => ({ path, message: 'required for the crowd target' })));
  });

  it('needs the tenant, the client and a secret or certificate once either Entra id is set', () => {
    expect(issues({ ENTRA_TENANT_ID: 't' })).toEqual([
      { path: 'ENTRA_CLIENT_ID', message: 'required for the entra target' },
      { path: 'ENTRA_CLIENT_SECRET', message: 'set it or ENTRA_CLIENT_CERTIFICATE_PATH for the entra target' },
    ]);
    expect(issues({ ENTRA_CLIENT_ID: 'c', ENTRA_CLIENT_CERTIFICATE_PATH: '/x.pem' })).toEqual([{ path: 'ENTRA_TENANT_ID', message: 'required for the entra target' }]);
    expect(paths({ ENTRA_TENANT_ID: 't', ENTRA_CLIENT_ID: 'c' })).toEqual(['ENTRA_CLIENT_SECRET']);
    // A credential alone names the Entra target, as CROWD_APP_PASSWORD alone names Crowd's.
    expect(paths({ ENTRA_CLIENT_SECRET: 's' })).toEqual(['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID']);
    expect(paths({ ENTRA_CLIENT_CERTIFICATE_PATH: '/x.pem' })).toEqual(['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID']);
    expect(paths({ CROWD_APP_PASSWORD: 'p' })).toEqual(['CROWD_URL', 'CROWD_APP_NAME']);
  });

  it('needs the settings of every target IDSYNC_TARGETS names', () => {
    expect(paths({ IDSYNC_TARGETS: 'crowd' })).toEqual(['CROWD_URL', 'CROWD_APP_NAME', 'CROWD_APP_PASSWORD']);
    expect(paths({ IDSYNC_TARGETS: 'entra', ...CROWD })).toEqual(['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID', 'ENTRA_CLIENT_SECRET']);
  });

  it('runs only the targets IDSYNC_TARGETS names, but still checks the settings of the others', () => {
    const c = loadConfig({ ...CROWD, ...ENTRA, IDSYNC_TARGETS: 'entra' });
    expect(c.targets).toEqual(['entra']);
    // Present settings of a target left out are still checked and built: `idsync worker crowd`
    // narrows IDSYNC_TARGETS per process from one shared environment.
    expect(c.crowd?.applicationName).toBe('idsync');
    expect(paths({ IDSYNC_TARGETS: 'entra', ...ENTRA, CROWD_URL: CROWD.CROWD_URL! })).toEqual(['CROWD_APP_NAME', 'CROWD_APP_PASSWORD']);
  });
});

describe('the application store', () => {
  it('chooses the webhook over nothing, and refuses the webhook with a database or without a secret', () => {
    const url = 'https://app.example.com/idsync';
    expect(issues({ APP_WEBHOOK_URL: url })).toEqual([{ path: 'APP_WEBHOOK_SECRET', message: 'required when APP_WEBHOOK_URL is set (requests are signed with it)' }]);
    expect(issues({ APP_WEBHOOK_URL: url, APP_WEBHOOK_SECRET: 's'.repeat(16), APP_DATABASE_URL: 'postgres://db/app' })).toEqual([
      { path: 'APP_WEBHOOK_URL', message: 'set either APP_WEBHOOK_URL or APP_DATABASE_URL, not both' },
    ]);
  });

  it('ignores a webhook secret without a webhook', () => {
    expect(loadConfig({ APP_WEBHOOK_SECRET: 's'.repeat(16) }).app.kind).toBe('embedded');
  });

  it('carries APP_CONCURRENCY to the webhook store too', () => {
    expect(loadConfig({ APP_WEBHOOK_URL: 'https://a/h', APP_WEBHOOK_SECRET: 's'.repeat(16), APP_CONCURRENCY: '3' }).app.concurrency).toBe(3);
  });
});

describe('several problems at once', () => {
  it('reports every malformed variable in one error, in the order of the README table', () => {
    const e = refusal({ IDSYNC_TIMEZONE: 'Nowhere', REDIS_URL: 'http://x', IDSYNC_ATTEMPTS: '0', CROWD_ROLE_MAP: '[', IDSYNC_LOG_LEVEL: 'loud' });
    expect(e.variables.map((v) => v.path)).toEqual(['REDIS_URL', 'IDSYNC_LOG_LEVEL', 'IDSYNC_ATTEMPTS', 'CROWD_ROLE_MAP', 'IDSYNC_TIMEZONE']);
    expect(e.name).toBe('InvalidEnvironmentError');
    expect(e.message).toBe(`Invalid configuration:\n${e.variables.map((v) => `  ${v.path}: ${v.message}`).join('\n')}`);
  });

  it('reports every missing or conflicting setting in one error', () => {
    expect(issues({
      REDIS_URL: 'redis+cluster://a:1', IDSYNC_PREFIX: 'plain', IDSYNC_TARGETS: 'crowd,entra', IDSYNC_PREVIOUS_SECRET_KEYS: OLD_KEY,
      APP_WEBHOOK_URL: 'https://app/h', APP_DATABASE_URL: 'postgres://db/app', IDSYNC_LOCK_DURATION_MS: '1000',
    })).toEqual([
      { path: 'IDSYNC_PREFIX', message: clusterPrefixProblem('plain') },
      { path: 'CROWD_URL', message: 'required for the crowd target' },
      { path: 'CROWD_APP_NAME', message: 'required for the crowd target' },
      { path: 'CROWD_APP_PASSWORD', message: 'required for the crowd target' },
      { path: 'ENTRA_TENANT_ID', message: 'required for the entra target' },
      { path: 'ENTRA_CLIENT_ID', message: 'required for the entra target' },
      { path: 'ENTRA_CLIENT_SECRET', message: 'set it or ENTRA_CLIENT_CERTIFICATE_PATH for the entra target' },
      { path: 'IDSYNC_SECRET_KEY', message: 'required when IDSYNC_PREVIOUS_SECRET_KEYS is set' },
      { path: 'APP_WEBHOOK_SECRET', message: 'required when APP_WEBHOOK_URL is set (requests are signed with it)' },
      { path: 'APP_WEBHOOK_URL', message: 'set either APP_WEBHOOK_URL or APP_DATABASE_URL, not both' },
      { path: 'IDSYNC_STALLED_INTERVAL_MS', message: expect.stringMatching(/^expected at most IDSYNC_LOCK_DURATION_MS/) },
    ]);
  });
});

describe('secrets stay out of every refusal', () => {
  const MARK = 'Zq7Xv9Kp2Wm4';
  // Each entry makes loadConfig refuse while a secret holds MARK, whether the secret itself is
  // the bad value or sits beside a bad one.
  const cases: [string, Env][] = [
    ['IDSYNC_SECRET_KEY of the wrong length', { IDSYNC_SECRET_KEY: `${MARK}${MARK}` }],
    ['IDSYNC_SECRET_KEY as hex of the wrong length', { IDSYNC_SECRET_KEY: 'abcdef0123456789'.repeat(3) }],
    ['a bad previous key', { IDSYNC_SECRET_KEY: KEY_HEX, IDSYNC_PREVIOUS_SECRET_KEYS: `${OLD_KEY},${MARK}` }],
    ['a short APP_WEBHOOK_SECRET', { APP_WEBHOOK_URL: 'https://a/h', APP_WEBHOOK_SECRET: MARK }],
    ['a short IDSYNC_INGEST_TOKEN', { IDSYNC_INGEST_TOKEN: MARK }],
    ['a short IDSYNC_INGEST_SECRET', { IDSYNC_INGEST_SECRET: MARK }],
    ['a short IDSYNC_ADMIN_TOKEN', { IDSYNC_ADMIN_TOKEN: MARK }],
    ['CROWD_APP_PASSWORD without the rest of Crowd', { CROWD_APP_PASSWORD: MARK }],
    ['CROWD_APP_PASSWORD beside a bad Crowd URL', { ...CROWD, CROWD_APP_PASSWORD: MARK, CROWD_URL: `ftp://u:${MARK}@crowd/` }],
    ['ENTRA_CLIENT_SECRET beside a bad tenant', { ...ENTRA, ENTRA_CLIENT_SECRET: MARK, ENTRA_TENANT_ID: 'no/such' }],
    ['ENTRA_CLIENT_SECRET without a client id', { ENTRA_TENANT_ID: 't', ENTRA_CLIENT_SECRET: MARK }],
    ['a REDIS_URL password on the wrong scheme', { REDIS_URL: `http://u:${MARK}@h:6379` }],
    ['a cluster REDIS_URL password with a bad seed', { REDIS_URL: `redis+cluster://u:${MARK}@a:1,,b:2` }],
    ['a cluster REDIS_URL password that does not parse', { REDIS_URL: `redis+cluster://u:${MARK}/x@a:1` }],
    ['a cluster REDIS_URL password beside a prefix without hash tag', { REDIS_URL: `redis+cluster://u:${MARK}@a:1`, IDSYNC_PREFIX: 'plain' }],
    ['an APP_DATABASE_URL password on the wrong scheme', { APP_DATABASE_URL: `mysql://u:${MARK}@db/app` }],
    ['an APP_DATABASE_URL password beside a webhook', { APP_DATABASE_URL: `postgres://u:${MARK}@db/app`, APP_WEBHOOK_URL: 'https://a/h', APP_WEBHOOK_SECRET: `${MARK}${MARK}` }],
    ['every secret set beside a bad number', { ...CROWD, ...ENTRA, CROWD_APP_PASSWORD: MARK, ENTRA_CLIENT_SECRET: MARK, IDSYNC_INGEST_TOKEN: MARK.repeat(3), IDSYNC_ATTEMPTS: 'x' }],
  ];

  it.each(cases)('keeps the value out after %s', (_what, env) => {
    const e = refusal(env);
    const text = printable(e);
    expect(text).not.toContain(MARK);
    // Nothing but the variable names and messages is kept on the error.
    for (const v of e.variables) expect(Object.keys(v).sort()).toEqual(['message', 'path']);
  });

  it('keeps the hex key itself out of a refusal', () => {
    const e = refusal({ IDSYNC_SECRET_KEY: KEY_HEX, IDSYNC_PREVIOUS_SECRET_KEYS: 'abc' });
    expect(printable(e)).not.toContain(KEY_HEX);
  });

  it('does not show the password keys when the config is printed or serialised', () => {
    const c = loadConfig({ IDSYNC_SECRET_KEY: KEY_HEX, IDSYNC_PREVIOUS_SECRET_KEYS: OLD_KEY });
    for (const text of [JSON.stringify(c), inspect(c, { depth: 20, showHidden: true }), String(c.keyring)]) {
      for (const key of [KEY_HEX, Buffer.from(KEY_HEX, 'hex').toString('base64'), OLD_KEY, Buffer.from(OLD_KEY, 'base64').toString('hex')]) {
        expect(text).not.toContain(key);
      }
    }
  });
});

describe('the config object', () => {
  it('is frozen all the way down, the keyring left as it is', () => {
    const c = loadConfig({ ...CROWD, ...ENTRA, IDSYNC_SECRET_KEY: KEY_HEX, CROWD_ROLE_MAP: '{"g":"r"}', APP_USERS_COLUMNS: '{"id":"uid"}' });
    const nested = [c, c.targets, c.log, c.jobs, c.audit, c.stalls, c.crowd, c.crowd!.roleMap, c.entra, c.entra!.matchAttributes, c.app,
      (c.app as { columns: object }).columns, c.sync, c.sync.matchAttributes, c.sync.authority, c.sync.authority.crowd, c.sync.authority.entra, c.http];
    expect(nested.map((o) => Object.isFrozen(o))).toEqual(nested.map(() => true));
    expect(Object.isFrozen(c.keyring)).toBe(false);
    expect(() => { (c.jobs as { attempts: number }).attempts = 1; }).toThrow(TypeError);
  });

  it('gives each load its own objects', () => {
    const a = loadConfig({});
    const b = loadConfig({ SYNC_AUTHORITY_CROWD: '{"email":"target"}' });
    expect(a.sync.authority.crowd.email).toBe('app');
    expect(b.sync.authority.crowd.email).toBe('target');
    expect(defaultAuthority('crowd').email).toBe('app');
  });
});

describe('canonicalJson', () => {
  it('sorts the keys of every object, nested ones and those inside arrays included', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
  });

  it('gives one text for values that differ only in key order', () => {
    const one = { id: 'u1', attrs: { title: 'x', dept: ['b', 'a'] }, '10': 1, '9': 2, B: 3, a: 4 };
    const two = { a: 4, B: 3, '9': 2, attrs: { dept: ['b', 'a'], title: 'x' }, '10': 1, id: 'u1' };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
    expect(canonicalJson({ b: 1, a: 2 })).not.toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('sorts by code unit, upper case before lower case', () => {
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4 })).toBe('{"B":2,"_":4,"a":3,"b":1}');
  });

  it('keeps array order, scalars and null as JSON has them', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(1.5)).toBe('1.5');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson({ a: undefined, b: [undefined], c: new Date(0) })).toBe('{"b":[null],"c":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson(undefined)).toBeUndefined();
  });
});
