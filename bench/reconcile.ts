import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { crowdEnv, type CrowdConnectionInfo, type CrowdEmulatorStats } from '../emulators/crowd/index.js';
import { DEFAULT_DOMAIN, entraEnv, type EntraConnectionInfo, type EntraStatsSnapshot } from '../emulators/entra/index.js';
import type { Target } from '../shared/jobs.js';
import { openSqlDirectory } from '../workers/app/sql/index.js';
import { PLAN_ACTIONS, type PlanMeta } from '../workers/sync/plan-store.js';
import { printTable, type Row } from './report.js';
import { deletePrefix, startEmulatorProcess, stopwatch, type EmulatorThread } from './support.js';
import { appWriteCounter, createBenchDatabase, loadAppUsers, seedLinks, startWorkerProcess, type BenchAppRow, type WorkerProcess } from './sync-support.js';

export interface BenchReconcileOptions {
  redisUrl: string;
  /** Users on each side. @defaultValue 100000 */
  users?: number;
  /** Entra emulator time scale, as in bench/entra.ts. @defaultValue 0.05 (400 writes/s) */
  timeScale?: number;
}

const GRAPH_WRITES = 3000;
const GRAPH_WINDOW_SECONDS = 150;
const GOAL_SECONDS = 60;
const GOAL_MB = 512;
/** The emulator's CA lives here; the worker process trusts it through NODE_EXTRA_CA_CERTS. */
const ENTRA_STATE_DIR = fileURLToPath(new URL('../.idsync/entra', import.meta.url));

/**
 * A full sync of an application (PostgreSQL) and a remote (Crowd, then Entra) that are
 * linked and in sync but for 1 % drift, in four equal kinds:
 *   update  linked users whose app last name changed          → one remote write each
 *   disable linked users deleted from the app                 → one remote write each
 *   create  app-only users                                    → one remote write each
 *   import  remote-only users                                 → one app write each
 * Writes issued must equal the drift; a second full sync right after must plan nothing.
 */
export async function benchReconcile(options: BenchReconcileOptions) {
  const users = options.users ?? 100_000;
  const db = await createBenchDatabase();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const results: Record<string, unknown> = {};
  try {
    for (const target of ['crowd', 'entra'] as const) {
      results[target] = await run(target, { ...options, users, databaseUrl: db.url, redis });
    }
    return results;
  } finally {
    await redis.quit();
    await db.drop();
  }
}

interface RunOptions extends BenchReconcileOptions {
  users: number;
  databaseUrl: string;
  redis: Redis;
}

/** The users of both sides: index i is `u<i>` on both, linked where both have it. */
function population(users: number) {
  const quarter = Math.max(1, Math.round(users / 400));
  const pad = (i: number) => String(i).padStart(7, '0');
  const guid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const person = (i: number, lastName = `Last ${i}`) => ({ username: `u${i}`, email: `u${i}@example.com`, firstName: 'First', lastName, displayName: `First ${lastName}` });
  const app: BenchAppRow[] = [];
  const remote: { i: number; remoteId: string }[] = [];
  const links: { i: number; appId: string; remoteId: string }[] = [];
  for (let i = 0; i < users; i++) {
    const changed = i < quarter;
    const deleted = i >= quarter && i < 2 * quarter;
    if (!deleted) app.push({ id: `app-${pad(i)}`, ...person(i, changed ? `Changed ${i}` : undefined) });
    remote.push({ i, remoteId: guid(i) });
    links.push({ i, appId: `app-${pad(i)}`, remoteId: guid(i) });
  }
  for (let i = users; i < users + quarter; i++) app.push({ id: `app-${pad(i)}`, ...person(i) });
  for (let i = users + quarter; i < users + 2 * quarter; i++) remote.push({ i, remoteId: guid(i) });
  return { app, remote, links, person, drift: { update: quarter, disable: quarter, create: quarter, import: quarter, total: 4 * quarter } };
}

type Population = ReturnType<typeof population>;

/** A remote emulator seen the same way for both targets. */
interface Remote {
  env: Record<string, string>;
  /** The link's remoteId of the user seeded with `id`: Crowd's key puts its directory id first. */
  remoteId(id: string): string;
  remoteName(i: number): string;
  /** Writes the remote received so far. */
  writes(): Promise<number>;
  close(): Promise<void>;
}

async function crowdRemote(pop: Population): Promise<Remote> {
  const em = await startEmulatorProcess<CrowdConnectionInfo>(new URL('../emulators/crowd/index.js', import.meta.url).href, 'startCrowdEmulator');
  for (let k = 0; k < pop.remote.length; k += 10_000) {
    const users = pop.remote.slice(k, k + 10_000).map(({ i, remoteId }) => {
      const p = pop.person(i);
      return { name: p.username, firstName: p.firstName, lastName: p.lastName, displayName: p.displayName, email: p.email, externalId: remoteId };
    });
    await em.admin('POST', '/seed', { users });
  }
  return {
    env: { ...crowdEnv(em.info), IDSYNC_TARGETS: 'crowd', CROWD_CONCURRENCY: '50' },
    remoteId: (id) => `32769:${id}`,
    remoteName: (i) => `u${i}`,
    // Every non-GET request to Crowd changes something: that is the write count.
    writes: async () => Object.entries((await em.admin('GET', '/stats') as CrowdEmulatorStats).byRoute).filter(([k]) => !k.startsWith('GET ')).reduce((s, [, n]) => s + n, 0),
    close: () => em.close(),
  };
}

async function entraRemote(pop: Population, timeScale: number, writesPerSecond: number): Promise<Remote> {
  const em: EmulatorThread<EntraConnectionInfo> = await startEmulatorProcess(new URL('../emulators/entra/index.js', import.meta.url).href, 'startEntraEmulator', { port: 0, timeScale, stateDir: ENTRA_STATE_DIR });
  const upn = (i: number) => `u${i}@${DEFAULT_DOMAIN}`;
  for (let k = 0; k < pop.remote.length; k += 10_000) {
    const users = pop.remote.slice(k, k + 10_000).map(({ i, remoteId }) => {
      const p = pop.person(i);
      return { id: remoteId, userPrincipalName: upn(i), mailNickname: p.username, displayName: p.displayName, givenName: p.firstName, surname: p.lastName, mail: p.email, accountEnabled: true };
    });
    await em.admin('POST', '/seed', { users });
  }
  return {
    env: { ...entraEnv(em.info), IDSYNC_TARGETS: 'entra', ENTRA_CONCURRENCY: '50', ENTRA_WRITES_PER_SECOND: String(writesPerSecond), NODE_EXTRA_CA_CERTS: join(ENTRA_STATE_DIR, 'ca.pem') },
    remoteId: (id) => id,
    remoteName: upn,
    writes: async () => ((await em.admin('GET', '/stats')) as EntraStatsSnapshot).writes,
    close: () => em.close(),
  };
}

async function run(target: Target, o: RunOptions) {
  const scale = o.timeScale ?? 0.05;
  const allowed = GRAPH_WRITES / (GRAPH_WINDOW_SECONDS * scale);
  const pop = population(o.users);
  const prefix = `{bench-reconcile-${target}-${randomBytes(3).toString('hex')}}`;
  const remote = target === 'crowd' ? await crowdRemote(pop) : await entraRemote(pop, scale, allowed);
  let appWrites: Awaited<ReturnType<typeof appWriteCounter>> | undefined;
  let worker: WorkerProcess | undefined;
  try {
    // The default table is created on open; the rows go in with plain SQL, as an application's would be there already.
    await (await openSqlDirectory({ engine: { kind: 'pg', databaseUrl: o.databaseUrl } })).close();
    appWrites = await appWriteCounter(o.databaseUrl);
    await loadAppUsers(o.databaseUrl, pop.app);
    await seedLinks(o.redis, prefix, target, pop.links.map((l) => ({ ...l, remoteId: remote.remoteId(l.remoteId), remoteName: remote.remoteName(l.i) })));
    worker = await startWorkerProcess(
      { ...remote.env, APP_DATABASE_URL: o.databaseUrl, APP_CONCURRENCY: '20', SYNC_DELETE_THRESHOLD: String(o.users), SYNC_DELETE_THRESHOLD_PERCENT: '100' },
      { redis: o.redis, redisUrl: o.redisUrl, prefix },
    );
    const remoteBefore = await remote.writes();
    await appWrites.mark();
    const reset = worker.resetPeak();
    const before = worker.memory();
    const elapsed = stopwatch();
    const first = await worker.fullSync(target, 'apply');
    const seconds = elapsed();
    const after = worker.memory();
    const remoteWrites = (await remote.writes()) - remoteBefore;
    const appWritten = await appWrites.writes();
    const writes = remoteWrites + appWritten;
    const second = await worker.fullSync(target, 'apply');

    const plan = first.apply ? (first.apply.startedAt - first.createdAt) / 1000 : seconds;
    const apply = first.apply?.finishedAt ? (first.apply.finishedAt - first.apply.startedAt) / 1000 : 0;
    const mb = after.peak / 2 ** 20;
    const beforeMb = before.rss / 2 ** 20;
    const remoteDrift = pop.drift.total - pop.drift.import;
    // Both sides must match on their own: a missing create must not hide behind an extra import.
    const match = remoteWrites === remoteDrift && appWritten === pop.drift.import;
    const floor = target === 'entra' ? remoteWrites / allowed : undefined;
    const leftover = PLAN_ACTIONS.filter((a) => a !== 'unchanged' && a !== 'link' && a !== 'conflict').map((a) => `${a} ${second.counts[a]}`).join(', ');
    const secondClean = ['create', 'update', 'disable', 'delete', 'import', 'appUpdate', 'appDisable'].every((a) => second.counts[a as keyof PlanMeta['counts']] === 0);
    if (!match) console.error(`!!! ${target}: WRITES ${writes} ≠ DRIFT ${pop.drift.total} (remote ${remoteWrites} vs ${remoteDrift}, app ${appWritten} vs ${pop.drift.import})`);
    const n = (v: number) => v.toLocaleString('en-US');
    const rows: Row[] = [
      { name: 'full sync wall time (job enqueued → plan applied)', value: seconds, unit: 's', note: `goal ≤ ${GOAL_SECONDS} s: ${seconds <= GOAL_SECONDS ? 'met' : 'NOT met'}; plan status ${first.status}` },
      { name: 'plan (createdAt → apply.startedAt)', value: plan, unit: 's', note: `counts: ${summary(first)}` },
      { name: 'apply (apply.startedAt → finishedAt)', value: apply, unit: 's', ...(floor !== undefined && { baseline: floor, note: `baseline = quota floor: ${n(remoteWrites)} writes at ${allowed} writes/s (Graph's ${n(GRAPH_WRITES)} / ${GRAPH_WINDOW_SECONDS} s at timeScale ${scale})` }) },
      { name: 'users reconciled per second (app + remote users ÷ wall time)', value: (pop.app.length + pop.remote.length) / seconds, unit: 'users/s' },
      { name: `peak RSS of the idsync worker process (${reset ? 'VmHWM reset just before the sync' : 'VmHWM since start: reset refused'})`, value: mb, unit: 'MB', note: `goal ≤ ${GOAL_MB} MB: ${mb <= GOAL_MB ? 'met' : 'NOT met'}; \`idsync worker\` in its own process, emulator in another` },
      { name: 'RSS of the idsync worker process just before the sync', value: beforeMb, unit: 'MB', note: `the sync grew it by ${(mb - beforeMb).toFixed(0)} MB at its peak; ${(after.rss / 2 ** 20).toFixed(0)} MB right after` },
      { name: 'writes issued (remote + app) vs the drift', value: writes, unit: 'writes', baseline: pop.drift.total, note: `${match ? 'writes = drift: met' : '**MISMATCH: writes ≠ drift**'}; remote ${n(remoteWrites)} (drift ${n(remoteDrift)}), app ${n(appWritten)} (drift ${n(pop.drift.import)}, rows of the app table written since the sync began)` },
      { name: 'second full sync: planned writes', value: PLAN_ACTIONS.filter((a) => a !== 'unchanged' && a !== 'link' && a !== 'conflict').reduce((s, a) => s + second.counts[a], 0), unit: 'writes', note: `${secondClean ? 'zero: met' : '**NOT zero**'} (${leftover}); conflicts ${second.counts.conflict}, ${(((second.apply?.finishedAt ?? second.updatedAt) - second.createdAt) / 1000).toFixed(1)} s` },
    ];
    printTable(`Full sync, ${target} (${n(pop.app.length)} app users on PostgreSQL, ${n(pop.remote.length)} ${target} users, drift ${n(pop.drift.total)}: ${pop.drift.update} update, ${pop.drift.disable} disable, ${pop.drift.create} create, ${pop.drift.import} import)`, rows);
    return { seconds, planSeconds: plan, applySeconds: apply, peakRssMb: mb, rssBeforeMb: beforeMb, writes, drift: pop.drift.total, quotaFloorSeconds: floor, secondCounts: second.counts };
  } finally {
    await worker?.close();
    await appWrites?.close();
    await deletePrefix(o.redis, prefix);
    await remote.close();
  }
}

function summary(meta: PlanMeta): string {
  return Object.entries(meta.counts).filter(([, v]) => v).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ');
}
