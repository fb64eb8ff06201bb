import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../shared/config.js';
import type { Target } from '../shared/jobs.js';
import { silentLogger } from '../shared/logger.js';
import { redactText } from '../shared/redact.js';
import { masters } from '../shared/redis.js';
import type { UserDirectory } from '../workers/app/directory.js';
import { openDirectory } from '../workers/app/open.js';
import { createConnectors } from '../workers/connectors.js';
import { AppCredential, GRAPH_SCOPE } from '../workers/entra/index.js';
import { PERMISSION, holds } from '../workers/entra/permissions.js';
import type { TargetConnector } from '../workers/runtime/connector.js';
import { quarantined } from './status.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found (ok or not). */
  detail: string;
  /** One line: how to fix it (only when not ok). */
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  config: IdsyncConfig;
  /** The caller's connection (left open). */
  redis: Redis;
  /** Connectors to probe. @defaultValue built with createConnectors(config) and closed afterwards */
  connectors?: Partial<Record<Target, TargetConnector>>;
  /** The roles of a fresh Entra token. @defaultValue a token for ENTRA_CLIENT_ID, read with the connector's credential class */
  entraRoles?: () => Promise<ReadonlySet<string> | undefined>;
  /** The application directory. @defaultValue openDirectory(config.app), closed afterwards */
  directory?: UserDirectory | (() => Promise<UserDirectory>);
  /** Per remote call. @defaultValue 10000 */
  timeoutMs?: number;
}

/**
 * `idsync doctor`: what a production idsync needs, each problem with a one-line fix.
 * Redis settings come from INFO (readable where CONFIG is disabled, as on managed Redis).
 * The embedded application store (PGlite) is not opened: one process at a time may hold
 * its data directory, and that is the running idsync.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const { config, redis } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checks: DoctorCheck[] = [];
  const where = config.redisUrl.replace(/\/\/[^@]*@/, '//');
  try {
    await within(redis.ping(), timeoutMs);
    checks.push({ name: 'redis', ok: true, detail: `reachable at ${where}` });
  } catch (err) {
    checks.push({ name: 'redis', ok: false, detail: `unreachable at ${where}: ${message(err)}`, fix: 'start Redis, or point REDIS_URL at it' });
    return { ok: false, checks };
  }
  checks.push(...(await redisSettings(redis)));
  for (const q of await quarantined(redis, config.prefix)) {
    checks.push({ name: `quarantine ${q.target}`, ok: false, detail: `quarantined since ${q.since}: ${q.reason}`, fix: `fix what the reason names; the ${q.target} queue resumes by itself on the next passing probe` });
  }
  checks.push(...(await targetChecks(options, timeoutMs)));
  checks.push(await directoryCheck(options, timeoutMs));
  return { ok: checks.every((c) => c.ok), checks };
}

async function redisSettings(redis: Redis): Promise<DoctorCheck[]> {
  // On a cluster, every master: a failover or resharding can move the prefix's slot to any of them.
  const nodes = masters(redis);
  const infos = await Promise.all(nodes.map(async (n) => ({ node: `${n.options.host}:${n.options.port}`, info: parseInfo(await n.info()) })));
  const on = (bad: typeof infos) => (nodes.length > 1 ? ` on ${bad.map((i) => i.node).join(', ')}` : '');
  const evicting = infos.filter((i) => i.info.maxmemory_policy !== 'noeviction');
  const noAof = infos.filter((i) => i.info.aof_enabled !== '1');
  return [
    !evicting.length
      ? { name: 'redis maxmemory-policy', ok: true, detail: 'noeviction' }
      : { name: 'redis maxmemory-policy', ok: false, detail: `${evicting[0]!.info.maxmemory_policy ?? 'unknown'}${on(evicting)}: Redis may evict queue keys under memory pressure`, fix: 'set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction)' },
    !noAof.length
      ? { name: 'redis appendonly', ok: true, detail: 'AOF on' }
      : { name: 'redis appendonly', ok: false, detail: `AOF off${on(noAof)}: jobs accepted since the last snapshot are lost if Redis restarts`, fix: 'set appendonly yes and appendfsync everysec (redis.conf, or CONFIG SET appendonly yes)' },
  ];
}

const TARGET_FIX: Record<Target, string> = {
  crowd: 'check CROWD_URL, CROWD_APP_NAME and CROWD_APP_PASSWORD, and that this host is in the Crowd application\'s remote addresses',
  entra: 'check ENTRA_TENANT_ID, ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET (or ENTRA_CLIENT_CERTIFICATE_PATH), ENTRA_AUTHORITY_HOST and GRAPH_BASE_URL',
};

async function targetChecks(options: DoctorOptions, timeoutMs: number): Promise<DoctorCheck[]> {
  const { config } = options;
  if (!config.targets.length) return [{ name: 'targets', ok: false, detail: 'no target is configured', fix: 'set the CROWD_* or ENTRA_* variables (see the README)' }];
  let connectors = options.connectors;
  const owned = !connectors;
  const checks: DoctorCheck[] = [];
  try {
    if (!connectors) {
      try {
        connectors = await createConnectors(config, { redis: options.redis, logger: silentLogger });
      } catch (err) {
        return [{ name: 'targets', ok: false, detail: message(err), fix: 'set every variable the message names' }];
      }
    }
    for (const target of config.targets) {
      const connector = connectors[target];
      if (!connector) {
        checks.push({ name: `${target} credentials`, ok: false, detail: 'no connector for this target', fix: TARGET_FIX[target] });
        continue;
      }
      try {
        await within(connector.probe({ abortSignal: AbortSignal.timeout(timeoutMs) }), timeoutMs);
        checks.push({ name: `${target} credentials`, ok: true, detail: 'an authenticated call succeeded' });
      } catch (err) {
        checks.push({ name: `${target} credentials`, ok: false, detail: message(err), fix: TARGET_FIX[target] });
        continue;
      }
      if (target === 'entra') checks.push(await entraRoleCheck(options, timeoutMs));
    }
  } finally {
    if (owned && connectors) await Promise.all(Object.values(connectors).map((c) => c?.close?.()));
  }
  return checks;
}

async function entraRoleCheck(options: DoctorOptions, timeoutMs: number): Promise<DoctorCheck> {
  const name = `entra permission ${PERMISSION.writeUsers}`;
  const clientId = options.config.entra?.clientId ?? 'ENTRA_CLIENT_ID';
  const fix = `grant app ${clientId} the application permission ${PERMISSION.writeUsers} in Entra and give admin consent`;
  try {
    const roles = await within((options.entraRoles ?? (() => tokenRoles(options.config)))(), timeoutMs);
    if (!roles) return { name, ok: false, detail: 'the token carries no roles claim', fix };
    return holds(roles, PERMISSION.writeUsers)
      ? { name, ok: true, detail: `the token's roles grant it (${[...roles].sort().join(', ')})` }
      : { name, ok: false, detail: `the token's roles lack it (${[...roles].sort().join(', ') || 'none'})`, fix };
  } catch (err) {
    return { name, ok: false, detail: `could not read the token's roles: ${message(err)}`, fix };
  }
}

/** A fresh token for the app (the connector keeps its credential to itself). */
async function tokenRoles(config: IdsyncConfig): Promise<ReadonlySet<string> | undefined> {
  const e = config.entra;
  if (!e) return undefined;
  const credential = new AppCredential({ tenantId: e.tenantId, clientId: e.clientId, clientSecret: e.clientSecret, clientCertificatePath: e.clientCertificatePath, authorityHost: e.authorityHost, timeoutMs: e.timeoutMs });
  await credential.getToken(GRAPH_SCOPE);
  return credential.roles();
}

const DIRECTORY_FIX: Record<IdsyncConfig['app']['kind'], string> = {
  sql: 'check APP_DATABASE_URL, APP_USERS_TABLE and APP_USERS_COLUMNS, and that the database accepts this host',
  webhook: 'check that APP_WEBHOOK_URL answers GET {url}/users and that APP_WEBHOOK_SECRET matches the application\'s',
  embedded: 'check that APP_EMBEDDED_DB_DIR is writable',
};

async function directoryCheck(options: DoctorOptions, timeoutMs: number): Promise<DoctorCheck> {
  const app = options.config.app;
  const name = 'application directory';
  if (!options.directory && app.kind === 'embedded') {
    return { name, ok: true, detail: `embedded store in ${app.dataDir}: not opened here (one process at a time may hold it)` };
  }
  let directory: UserDirectory | undefined;
  const owned = typeof options.directory !== 'object';
  try {
    directory = typeof options.directory === 'object' ? options.directory : await within((options.directory ?? (() => openDirectory(app)))(), timeoutMs);
    const first = await within(directory.list({ pageSize: 1 }).next(), timeoutMs);
    const users = first.done ? 0 : first.value.length;
    return { name, ok: true, detail: `${directory.kind}: reachable, first page listed (${users} user${users === 1 ? '' : 's'})` };
  } catch (err) {
    return { name, ok: false, detail: `${app.kind}: ${message(err)}`, fix: DIRECTORY_FIX[app.kind] };
  } finally {
    if (owned) await directory?.close().catch(() => undefined);
  }
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const message = (err: unknown) => redactText(err instanceof Error ? err.message : String(err)).split('\n', 1)[0]!;

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
