import { z } from 'zod';
import { InvalidEnvironmentError, type ValidationIssue } from './errors.js';
import { Keyring, parseKey } from './crypto.js';
import { APP_FIELDS, TARGETS, type AppField, type Target } from './jobs.js';
import { clusterPrefixProblem, isClusterUrl, parseClusterUrl } from './redis-url.js';

/**
 * The one configuration module: environment variables in, a frozen typed config out.
 * Every variable is listed in the README's configuration table with its default.
 * A bad value stops start-up with a message naming the variable and what it expects.
 */

// Digits only, so the number is whole; no `.int()`, whose own message would double the range's
// for a value past 2^53.
const intFrom = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `expected a whole number ${max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

// WHATWG URLs take `redis:10.0.0.5:6380` or `https:` (no `//`, or no host) for URLs that a
// client then reads as some other host, so both are required here. PostgreSQL alone may leave
// the host out (`postgres:///app` is the local socket).
const url = (protocols: string[], { hostless = false } = {}) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        const u = new URL(v);
        return protocols.includes(u.protocol) && v.slice(u.protocol.length, u.protocol.length + 2) === '//' && (hostless || u.hostname !== '');
      } catch {
        return false;
      }
    }, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}${hostless ? '' : ' and naming a host'}`);

// One server (redis://, rediss://) or a cluster's seed nodes (redis+cluster://, rediss+cluster://).
const redisUrl = z.string().trim().superRefine((v, ctx) => {
  if (!isClusterUrl(v)) {
    const single = url(['redis:', 'rediss:']).safeParse(v);
    if (!single.success) ctx.addIssue({ code: 'custom', message: 'expected a URL starting with redis://, rediss://, redis+cluster:// or rediss+cluster:// and naming a host' });
    return;
  }
  try {
    parseClusterUrl(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const key = z
  .string()
  .transform((v, ctx) => {
    try {
      return parseKey(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

const keyList = z.string().transform((v, ctx) => {
  const out: Buffer[] = [];
  for (const [i, part] of v.split(',').map((s) => s.trim()).filter(Boolean).entries()) {
    try {
      out.push(parseKey(part));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `key #${i + 1}: ${(e as Error).message}` });
    }
  }
  return out;
});

const targetList = z.string().transform((v, ctx) => {
  const names = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = names.filter((n) => !(TARGETS as readonly string[]).includes(n));
  if (bad.length) ctx.addIssue({ code: 'custom', message: `unknown target ${bad.join(', ')}; expected a comma-separated list of ${TARGETS.join(', ')}` });
  return [...new Set(names)] as Target[];
});

/** A variable holding a JSON object, checked by `schema`; `expected` says what it should hold. */
const jsonObject = <T>(schema: z.ZodType<T>, expected: string) =>
  z.string().transform((v, ctx) => {
    try {
      const parsed = schema.safeParse(JSON.parse(v));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: falls through to the issue below
    }
    ctx.addIssue({ code: 'custom', message: `expected a JSON object of ${expected}` });
    return z.NEVER;
  });

// CROWD_ROLE_MAP: Crowd group name → app role (many groups may map to one role).
const roleMap = jsonObject(z.record(z.string().min(1), z.string().min(1)), 'Crowd group name → app role, e.g. {"jira-admins":"admin"}');
// APP_USERS_COLUMNS: idsync field → column name of the application's users table.
const columnMap = jsonObject(z.record(z.string().min(1), z.string().min(1)), 'idsync field → column name, e.g. {"id":"uid","username":"login","email":"mail"}');
// SYNC_AUTHORITY_<TARGET>: attribute → the side that wins it; unnamed attributes keep their default.
const authorityMap = jsonObject(z.partialRecord(z.enum(APP_FIELDS), z.enum(['app', 'target'])), `attribute → "app" or "target", attributes among ${APP_FIELDS.join(', ')}`);

// The shape of a cron expression (5 or 6 fields); the scheduler checks each field's values with
// node-cron when it starts. Checking here with node-cron would make every user of this module,
// the client library included, load it.
const CRON_FIELD = /^[\d*?LW#/,\-A-Za-z]+$/;
const cronExpression = z.string().trim().refine((v) => {
  if (v === 'off') return true;
  const fields = v.split(/\s+/);
  return (fields.length === 5 || fields.length === 6) && fields.every((f) => CRON_FIELD.test(f));
}, 'expected a cron expression (5 or 6 fields, e.g. "0 2 * * *") or "off"');

const timezone = z.string().trim().refine((v) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: v });
    return true;
  } catch {
    return false;
  }
}, 'expected an IANA time zone, e.g. UTC or Europe/Berlin');

const matchList = z.string().transform((v, ctx) => {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !['username', 'email'].includes(n));
  if (bad.length || !names.length) ctx.addIssue({ code: 'custom', message: 'expected a comma-separated list of username, email' });
  return names as ('username' | 'email')[];
});

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * How fast a job held by a dead worker runs again: its lock expires `lockDurationMs` after the
 * last renewal (renewed every half of it while the event loop is free); a stall check (every
 * `stalledIntervalMs`) marks it, and the first check after the expiry puts it back in `wait`.
 * BullMQ's 30 s / 30 s made that over a minute; a lock must still outlast any event-loop or
 * Redis pause of half its length, or a live job is taken for stalled and runs twice (README).
 */
export interface StallSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** Stalls a job may survive; one more and it fails ("job stalled more than allowable limit"). */
  maxStalledCount: number;
}

export const STALL_DEFAULTS: Readonly<StallSettings> = Object.freeze({ lockDurationMs: 15_000, stalledIntervalMs: 5_000, maxStalledCount: 1 });

/** The variables idsync reads, each with its default. */
const envSchema = z.object({
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  IDSYNC_PREFIX: z.string().trim().min(1).refine((v) => !v.includes(':'), 'must not contain ":"').default('{idsync}'),
  IDSYNC_SECRET_KEY: key.optional(),
  IDSYNC_PREVIOUS_SECRET_KEYS: keyList.optional(),
  IDSYNC_TARGETS: targetList.optional(),
  IDSYNC_LOG_LEVEL: logLevel.default('info'),
  IDSYNC_LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  IDSYNC_HEALTH_PORT: intFrom(0, 65535).default(7070),
  IDSYNC_ATTEMPTS: intFrom(1, 1000).default(8),
  IDSYNC_BACKOFF_MS: intFrom(1).default(1000),
  IDSYNC_MAX_BACKOFF_MS: intFrom(1).default(300_000),
  IDSYNC_SHUTDOWN_TIMEOUT_MS: intFrom(0).default(25_000),
  IDSYNC_QUARANTINE_PROBE_MS: intFrom(10).default(30_000),
  IDSYNC_PASSWORD_TTL_MS: intFrom(1000).default(3_600_000),
  IDSYNC_COALESCE_WINDOW_MS: intFrom(0, 3_600_000).default(1000),
  IDSYNC_AUDIT_MAX_ENTRIES: intFrom(100).default(1_000_000),
  IDSYNC_AUDIT_MAX_AGE_DAYS: intFrom(1).default(90),
  IDSYNC_LOCK_DURATION_MS: intFrom(1000).default(STALL_DEFAULTS.lockDurationMs),
  IDSYNC_STALLED_INTERVAL_MS: intFrom(100).default(STALL_DEFAULTS.stalledIntervalMs),
  IDSYNC_MAX_STALLED_COUNT: intFrom(0, 1000).default(STALL_DEFAULTS.maxStalledCount),
  CROWD_URL: url(['http:', 'https:']).optional(),
  CROWD_APP_NAME: z.string().min(1).optional(),
  CROWD_APP_PASSWORD: z.string().min(1).optional(),
  CROWD_CONCURRENCY: intFrom(1, 1000).default(20),
  CROWD_JOBS_PER_SECOND: intFrom(1).optional(),
  CROWD_TIMEOUT_MS: intFrom(100).default(10_000),
  CROWD_DELETE_POLICY: z.enum(['deactivate', 'delete']).default('deactivate'),
  CROWD_REQUESTS_PER_SECOND: intFrom(1).optional(),
  CROWD_REQUESTS_MARGIN_MS: intFrom(0, 999).default(20),
  CROWD_MAPPING_MODULE: z.string().min(1).optional(),
  CROWD_ROLE_MAP: roleMap.optional(),
  ENTRA_TENANT_ID: z.string().trim().regex(/^[0-9a-zA-Z-.]+$/, 'expected a tenant id (GUID or domain)').optional(),
  ENTRA_CLIENT_ID: z.string().trim().min(1).optional(),
  ENTRA_CLIENT_SECRET: z.string().min(1).optional(),
  ENTRA_CLIENT_CERTIFICATE_PATH: z.string().min(1).optional(),
  ENTRA_AUTHORITY_HOST: url(['https:']).default('https://login.microsoftonline.com'),
  GRAPH_BASE_URL: url(['https:']).default('https://graph.microsoft.com/'),
  ENTRA_CONCURRENCY: intFrom(1, 1000).default(20),
  ENTRA_WRITES_PER_SECOND: intFrom(1).default(20),
  ENTRA_TIMEOUT_MS: intFrom(100).default(30_000),
  ENTRA_DELETE_POLICY: z.enum(['disable', 'delete']).default('disable'),
  ENTRA_MATCH_ATTRIBUTES: z.string().transform((v, ctx) => {
    const names = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = names.filter((n) => !['userPrincipalName', 'employeeId', 'onPremisesImmutableId', 'mail'].includes(n));
    if (bad.length || !names.length) ctx.addIssue({ code: 'custom', message: 'expected a comma-separated list of userPrincipalName, employeeId, onPremisesImmutableId, mail' });
    return names;
  }).optional(),
  ENTRA_UPN_DOMAIN: z.string().trim().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'expected a domain name, e.g. contoso.onmicrosoft.com').optional(),
  ENTRA_MAPPING_MODULE: z.string().min(1).optional(),
  APP_DATABASE_URL: url(['postgres:', 'postgresql:'], { hostless: true }).optional(),
  APP_USERS_TABLE: z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/, 'expected a table name, optionally schema-qualified (schema.table)').default('idsync_users'),
  APP_USERS_COLUMNS: columnMap.optional(),
  APP_EMBEDDED_DB_DIR: z.string().trim().min(1).default('.idsync/app-db'),
  APP_WEBHOOK_URL: url(['http:', 'https:']).optional(),
  APP_WEBHOOK_SECRET: z.string().min(16, 'expected at least 16 characters').optional(),
  APP_CONCURRENCY: intFrom(1, 1000).default(10),
  SYNC_DELETE_THRESHOLD: intFrom(0).default(500),
  SYNC_DELETE_THRESHOLD_PERCENT: z.string().trim().regex(/^\d+(\.\d+)?$/, 'expected a percentage from 0 to 100').transform(Number).pipe(z.number().max(100, 'expected at most 100')).default(5),
  SYNC_MATCH_ATTRIBUTES: matchList.optional(),
  SYNC_IMPORT_UNMATCHED: z.enum(['true', 'false']).transform((v) => v === 'true').default(true),
  SYNC_AUTHORITY_CROWD: authorityMap.optional(),
  SYNC_AUTHORITY_ENTRA: authorityMap.optional(),
  SYNC_FULL_SCHEDULE: cronExpression.default('0 2 * * *'),
  SYNC_INCREMENTAL_SCHEDULE: cronExpression.default('*/15 * * * *'),
  IDSYNC_TIMEZONE: timezone.default('UTC'),
  IDSYNC_HTTP_PORT: intFrom(0, 65535).default(8080),
  IDSYNC_INGEST_TOKEN: z.string().min(24, 'expected at least 24 characters').optional(),
  IDSYNC_INGEST_SECRET: z.string().min(24, 'expected at least 24 characters').optional(),
  IDSYNC_ADMIN_TOKEN: z.string().min(24, 'expected at least 24 characters').optional(),
});

export interface CrowdConfig {
  url: string;
  applicationName: string;
  applicationPassword: string;
  concurrency: number;
  /** Jobs started per second across every worker process; undefined = no static limit. */
  jobsPerSecond: number | undefined;
  timeoutMs: number;
  deletePolicy: 'deactivate' | 'delete';
  /** HTTP requests per sliding second across all processes; undefined = unlimited. */
  requestsPerSecond: number | undefined;
  /** How late a request may leave behind its budget slot and still keep every sliding second within requestsPerSecond. */
  requestsMarginMs: number;
  /** Path of an ESM module that customises the attribute mapping (see workers/crowd). */
  mappingModule: string | undefined;
  /** Crowd group name → app role, applied on pull. */
  roleMap: Readonly<Record<string, string>>;
}

export interface EntraConfig {
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  clientCertificatePath: string | undefined;
  authorityHost: string;
  graphBaseUrl: string;
  concurrency: number;
  writesPerSecond: number;
  timeoutMs: number;
  deletePolicy: 'disable' | 'delete';
  /** Attributes tried, in order, to match an unlinked user. */
  matchAttributes: readonly string[];
  /** Domain for derived UPNs; undefined = the tenant's default verified domain. */
  upnDomain: string | undefined;
  /** Path of an ESM module that customises the attribute mapping (see workers/entra). */
  mappingModule: string | undefined;
}

/** Where pulled changes land: the application's users table, or its webhook. */
export type AppConfig =
  | { kind: 'sql'; databaseUrl: string; table: string; columns: Readonly<Record<string, string>> | undefined; concurrency: number }
  | { kind: 'embedded'; dataDir: string; table: string; columns: Readonly<Record<string, string>> | undefined; concurrency: number }
  | { kind: 'webhook'; url: string; secret: string; concurrency: number };

/** Which side wins an attribute of a linked user. */
export type Authority = 'app' | 'target';

export interface SyncConfig {
  /** Planned removals above this many users stage the plan for an operator. */
  deleteThreshold: number;
  /** … or above this percentage of the linked population. */
  deleteThresholdPercent: number;
  /** App attributes that pair an unlinked remote user with an app user, case-insensitively, in order. */
  matchAttributes: readonly ('username' | 'email')[];
  /** Remote users that match nobody are imported into the application. */
  importUnmatched: boolean;
  /** Per target, attribute → the side that wins it (defaults filled in). */
  authority: Readonly<Record<Target, Readonly<Record<AppField, Authority>>>>;
  /** Cron expressions in `timezone`; undefined = off. */
  fullSchedule: string | undefined;
  incrementalSchedule: string | undefined;
  timezone: string;
}

/**
 * Defaults (design decision 9): the application wins every attribute it pushes; Entra wins
 * the photo; Crowd's groups win the application's roles (through CROWD_ROLE_MAP).
 */
export function defaultAuthority(target: Target): Record<AppField, Authority> {
  const out = Object.fromEntries(APP_FIELDS.map((f) => [f, 'app'])) as Record<AppField, Authority>;
  if (target === 'entra') out.photo = 'target';
  if (target === 'crowd') out.roles = 'target';
  return out;
}

/** The HTTP server: ingest API, dashboard, operator API. */
export interface HttpConfig {
  port: number;
  /** `Authorization: Bearer <token>` for the ingest API; undefined = bearer auth off. */
  ingestToken: string | undefined;
  /** HMAC-SHA256 key for signed ingest requests; undefined = signatures off. */
  ingestSecret: string | undefined;
  /** The dashboard's login token; undefined = `idsync start` makes one in .idsync/admin.token (never printed). */
  adminToken: string | undefined;
}

export interface IdsyncConfig {
  redisUrl: string;
  prefix: string;
  /** Undefined when no IDSYNC_SECRET_KEY is set: password sync is then refused. */
  keyring: Keyring | undefined;
  targets: readonly Target[];
  log: { level: z.infer<typeof logLevel>; format: 'json' | 'pretty' };
  healthPort: number;
  jobs: {
    attempts: number;
    backoffMs: number;
    maxBackoffMs: number;
    passwordTtlMs: number;
    /** Per-user throttle window of pushes from the client; 0 = off. */
    coalesceWindowMs: number;
  };
  shutdownTimeoutMs: number;
  quarantineProbeMs: number;
  audit: { maxEntries: number; maxAgeMs: number };
  stalls: StallSettings;
  crowd: CrowdConfig | undefined;
  entra: EntraConfig | undefined;
  app: AppConfig;
  sync: SyncConfig;
  http: HttpConfig;
}

export type Env = Record<string, string | undefined>;

/** Reads and validates the environment. Empty strings count as unset. */
export function loadConfig(env: Env = process.env): IdsyncConfig {
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new InvalidEnvironmentError(
      parsed.error.issues.map((i) => ({ path: String(i.path[0] ?? ''), message: i.message })),
    );
  }
  const e = parsed.data;
  const problems: ValidationIssue[] = [];
  const prefixProblem = isClusterUrl(e.REDIS_URL) ? clusterPrefixProblem(e.IDSYNC_PREFIX) : undefined;
  if (prefixProblem) problems.push({ path: 'IDSYNC_PREFIX', message: prefixProblem });

  const crowdVars = ['CROWD_URL', 'CROWD_APP_NAME', 'CROWD_APP_PASSWORD'] as const;
  const entraVars = ['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID'] as const;
  const crowdPresent = crowdVars.some((v) => e[v] !== undefined);
  // A credential alone counts too, as CROWD_APP_PASSWORD does: set without the ids, it was meant for Entra.
  const entraPresent = [...entraVars, 'ENTRA_CLIENT_SECRET', 'ENTRA_CLIENT_CERTIFICATE_PATH'].some((v) => e[v as keyof typeof e] !== undefined);
  const targets = e.IDSYNC_TARGETS ?? [
    ...(crowdPresent ? (['crowd'] as const) : []),
    ...(entraPresent ? (['entra'] as const) : []),
  ];

  if (targets.includes('crowd') || crowdPresent) {
    for (const v of crowdVars) if (e[v] === undefined) problems.push({ path: v, message: 'required for the crowd target' });
  }
  if (targets.includes('entra') || entraPresent) {
    for (const v of entraVars) if (e[v] === undefined) problems.push({ path: v, message: 'required for the entra target' });
    if (!e.ENTRA_CLIENT_SECRET && !e.ENTRA_CLIENT_CERTIFICATE_PATH) {
      problems.push({ path: 'ENTRA_CLIENT_SECRET', message: 'set it or ENTRA_CLIENT_CERTIFICATE_PATH for the entra target' });
    }
  }
  if (e.IDSYNC_PREVIOUS_SECRET_KEYS?.length && !e.IDSYNC_SECRET_KEY) {
    problems.push({ path: 'IDSYNC_SECRET_KEY', message: 'required when IDSYNC_PREVIOUS_SECRET_KEYS is set' });
  }
  if (e.APP_WEBHOOK_URL && !e.APP_WEBHOOK_SECRET) problems.push({ path: 'APP_WEBHOOK_SECRET', message: 'required when APP_WEBHOOK_URL is set (requests are signed with it)' });
  if (e.APP_WEBHOOK_URL && e.APP_DATABASE_URL) problems.push({ path: 'APP_WEBHOOK_URL', message: 'set either APP_WEBHOOK_URL or APP_DATABASE_URL, not both' });
  if (e.IDSYNC_STALLED_INTERVAL_MS > e.IDSYNC_LOCK_DURATION_MS) {
    problems.push({ path: 'IDSYNC_STALLED_INTERVAL_MS', message: 'expected at most IDSYNC_LOCK_DURATION_MS (a stall cannot be seen before the lock expires; checking less often only delays recovery)' });
  }
  if (problems.length) throw new InvalidEnvironmentError(problems);

  const appTable = { table: e.APP_USERS_TABLE, columns: e.APP_USERS_COLUMNS, concurrency: e.APP_CONCURRENCY };
  const app: AppConfig = e.APP_WEBHOOK_URL
    ? { kind: 'webhook', url: e.APP_WEBHOOK_URL, secret: e.APP_WEBHOOK_SECRET!, concurrency: e.APP_CONCURRENCY }
    : e.APP_DATABASE_URL
      ? { kind: 'sql', databaseUrl: e.APP_DATABASE_URL, ...appTable }
      : { kind: 'embedded', dataDir: e.APP_EMBEDDED_DB_DIR, ...appTable };
  const sync: SyncConfig = {
    deleteThreshold: e.SYNC_DELETE_THRESHOLD,
    deleteThresholdPercent: e.SYNC_DELETE_THRESHOLD_PERCENT,
    matchAttributes: e.SYNC_MATCH_ATTRIBUTES ?? ['username', 'email'],
    importUnmatched: e.SYNC_IMPORT_UNMATCHED,
    authority: {
      crowd: { ...defaultAuthority('crowd'), ...e.SYNC_AUTHORITY_CROWD },
      entra: { ...defaultAuthority('entra'), ...e.SYNC_AUTHORITY_ENTRA },
    },
    fullSchedule: e.SYNC_FULL_SCHEDULE === 'off' ? undefined : e.SYNC_FULL_SCHEDULE,
    incrementalSchedule: e.SYNC_INCREMENTAL_SCHEDULE === 'off' ? undefined : e.SYNC_INCREMENTAL_SCHEDULE,
    timezone: e.IDSYNC_TIMEZONE,
  };

  const crowd: CrowdConfig | undefined =
    e.CROWD_URL && e.CROWD_APP_NAME && e.CROWD_APP_PASSWORD
      ? {
          url: e.CROWD_URL,
          applicationName: e.CROWD_APP_NAME,
          applicationPassword: e.CROWD_APP_PASSWORD,
          concurrency: e.CROWD_CONCURRENCY,
          jobsPerSecond: e.CROWD_JOBS_PER_SECOND,
          timeoutMs: e.CROWD_TIMEOUT_MS,
          deletePolicy: e.CROWD_DELETE_POLICY,
          requestsPerSecond: e.CROWD_REQUESTS_PER_SECOND,
          requestsMarginMs: e.CROWD_REQUESTS_MARGIN_MS,
          mappingModule: e.CROWD_MAPPING_MODULE,
          roleMap: e.CROWD_ROLE_MAP ?? {},
        }
      : undefined;
  const entra: EntraConfig | undefined =
    e.ENTRA_TENANT_ID && e.ENTRA_CLIENT_ID
      ? {
          tenantId: e.ENTRA_TENANT_ID,
          clientId: e.ENTRA_CLIENT_ID,
          clientSecret: e.ENTRA_CLIENT_SECRET,
          clientCertificatePath: e.ENTRA_CLIENT_CERTIFICATE_PATH,
          authorityHost: e.ENTRA_AUTHORITY_HOST,
          graphBaseUrl: e.GRAPH_BASE_URL,
          concurrency: e.ENTRA_CONCURRENCY,
          writesPerSecond: e.ENTRA_WRITES_PER_SECOND,
          timeoutMs: e.ENTRA_TIMEOUT_MS,
          deletePolicy: e.ENTRA_DELETE_POLICY,
          matchAttributes: e.ENTRA_MATCH_ATTRIBUTES ?? ['userPrincipalName'],
          upnDomain: e.ENTRA_UPN_DOMAIN,
          mappingModule: e.ENTRA_MAPPING_MODULE,
        }
      : undefined;

  return deepFreeze({
    redisUrl: e.REDIS_URL,
    prefix: e.IDSYNC_PREFIX,
    keyring: e.IDSYNC_SECRET_KEY ? new Keyring(e.IDSYNC_SECRET_KEY, e.IDSYNC_PREVIOUS_SECRET_KEYS) : undefined,
    targets,
    log: {
      level: e.IDSYNC_LOG_LEVEL,
      format: e.IDSYNC_LOG_FORMAT === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : e.IDSYNC_LOG_FORMAT,
    },
    healthPort: e.IDSYNC_HEALTH_PORT,
    jobs: {
      attempts: e.IDSYNC_ATTEMPTS,
      backoffMs: e.IDSYNC_BACKOFF_MS,
      maxBackoffMs: e.IDSYNC_MAX_BACKOFF_MS,
      passwordTtlMs: e.IDSYNC_PASSWORD_TTL_MS,
      coalesceWindowMs: e.IDSYNC_COALESCE_WINDOW_MS,
    },
    shutdownTimeoutMs: e.IDSYNC_SHUTDOWN_TIMEOUT_MS,
    quarantineProbeMs: e.IDSYNC_QUARANTINE_PROBE_MS,
    audit: { maxEntries: e.IDSYNC_AUDIT_MAX_ENTRIES, maxAgeMs: e.IDSYNC_AUDIT_MAX_AGE_DAYS * 86_400_000 },
    stalls: { lockDurationMs: e.IDSYNC_LOCK_DURATION_MS, stalledIntervalMs: e.IDSYNC_STALLED_INTERVAL_MS, maxStalledCount: e.IDSYNC_MAX_STALLED_COUNT },
    crowd,
    entra,
    app,
    sync,
    http: { port: e.IDSYNC_HTTP_PORT, ingestToken: e.IDSYNC_INGEST_TOKEN, ingestSecret: e.IDSYNC_INGEST_SECRET, adminToken: e.IDSYNC_ADMIN_TOKEN },
  });
}

/** The names of every variable loadConfig reads (the README table is checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Keyring) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
