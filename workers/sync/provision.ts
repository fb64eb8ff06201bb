import type { ProvisionData, ProvisionResult, ProvisionScope, RemoteUser, Target, UserSnapshot } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import type { AppUser, UserDirectory } from '../app/directory.js';
import type { SyncConnector } from '../runtime/connector.js';
import type { ProgressReporter } from './progress.js';
import type { SyncQueues } from './queues.js';
import { toSnapshot } from './snapshot.js';

export interface ProvisionDeps {
  queues: SyncQueues;
  directory: UserDirectory;
  connectors: Partial<Record<Target, SyncConnector>>;
  progress: ProgressReporter;
  logger: Logger;
  abortSignal?: AbortSignal;
}

const CHUNK = 1000;

/**
 * On-demand provisioning, both directions. To a target: application users become push jobs
 * (chunks through addBulk, at bulk priority, so a "provision all" never delays a live event).
 * From a target: remote users become `import` jobs on the app queue; app user ids become pulls.
 * Progress counts users as they end (a job finished, a row too bad to push, an id that names
 * nobody), so it reaches its total; the next chunk is enqueued while the current one runs.
 */
export async function provision(deps: ProvisionDeps, data: ProvisionData): Promise<ProvisionResult> {
  const started = Date.now();
  const result: ProvisionResult = { direction: data.direction, targets: {}, durationMs: 0 };
  for (const target of data.targets) {
    const connector = deps.connectors[target];
    if (!connector) throw new Error(`provisioning ${target}, but this worker does not run the ${target} target`);
    const tally = { users: 0, succeeded: 0, skipped: 0, failed: 0, notFound: 0 };
    result.targets[target] = tally;
    // Users that end without a job (a bad row, an id naming nobody) count as they are found.
    const endedUnqueued = async (outcome: 'failed' | 'notFound', n: number) => {
      if (n === 0) return;
      tally.users += n;
      tally[outcome] += n;
      await deps.progress.add(n);
    };
    // A chunk is enqueued while the one before it still runs, and waited for after that one:
    // two chunks at most in flight, so the worker never drains to idle at a chunk boundary.
    let previous: Promise<void> = Promise.resolve();
    const run = async (chunk: () => Promise<{ queue: Target | 'app'; ids: string[] }>, users: number) => {
      const { queue, ids } = await chunk();
      tally.users += users;
      const { tracker } = await deps.queues.get(queue);
      const waiting = tracker.wait(ids, () => void deps.progress.add(1), { abortSignal: deps.abortSignal }).then((t) => {
        tally.succeeded += t.succeeded;
        tally.skipped += t.skipped;
        tally.failed += t.failed;
      });
      // Seen when awaited below; until then it must not count as an unhandled rejection.
      waiting.catch(() => undefined);
      await previous;
      previous = waiting;
    };
    // Each id once: chunks overlap in flight, and one job id must not be waited for twice.
    const scope: ProvisionScope = data.scope === 'all' ? data.scope : 'ids' in data.scope ? { ids: [...new Set(data.scope.ids)] } : { remoteIds: [...new Set(data.scope.remoteIds)] };
    if (data.direction === 'to-target') {
      if (scope !== 'all' && 'remoteIds' in scope) throw new Error('remoteIds name remote users: provision them with direction from-target');
      await deps.progress.phase('applying', scope === 'all' ? undefined : scope.ids.length, target);
      for await (const { found: users, missing } of appUsers(deps, scope)) {
        await endedUnqueued('notFound', missing);
        const snaps: (UserSnapshot & { version: number })[] = [];
        for (const u of users) {
          const s = toSnapshot(u);
          if (s.ok) snaps.push(s.snapshot);
          else deps.logger.warn({ appUserId: u.id, reason: s.reason }, 'not provisioned');
        }
        await endedUnqueued('failed', users.length - snaps.length);
        await run(async () => ({ queue: target, ids: await deps.queues.pushUpserts(target, snaps, 'provision') }), snaps.length);
      }
    } else if (scope !== 'all' && 'ids' in scope) {
      await deps.progress.phase('applying', scope.ids.length, target);
      for (let i = 0; i < scope.ids.length; i += CHUNK) {
        const ids = scope.ids.slice(i, i + CHUNK);
        await run(async () => ({ queue: target, ids: await deps.queues.pulls(target, ids) }), ids.length);
      }
    } else {
      await deps.progress.phase('applying', scope === 'all' ? undefined : scope.remoteIds.length, target);
      for await (const { found: remotes, missing } of remoteUsers(deps, connector, scope)) {
        await endedUnqueued('notFound', missing);
        const changes = await Promise.all(remotes.map(async (remote) => ({
          source: target, action: 'import' as const, remote, appUsername: await connector.appUsername(remote, { abortSignal: deps.abortSignal }),
        })));
        await run(async () => ({ queue: 'app', ids: await deps.queues.applies(changes) }), remotes.length);
      }
    }
    await previous;
  }
  result.durationMs = Date.now() - started;
  await deps.progress.phase('done');
  return result;
}

/** A chunk of users, and how many of the ids it was read for name nobody. */
interface Found<T> {
  found: T[];
  missing: number;
}

async function* appUsers(deps: ProvisionDeps, scope: 'all' | { ids: readonly string[] }): AsyncIterableIterator<Found<AppUser>> {
  if (scope === 'all') {
    for await (const found of deps.directory.list({ pageSize: CHUNK, abortSignal: deps.abortSignal })) yield { found, missing: 0 };
    return;
  }
  yield* readChunks(deps, scope.ids, (id) => deps.directory.get(id, { abortSignal: deps.abortSignal }), 'provision: application users not found');
}

async function* remoteUsers(deps: ProvisionDeps, connector: SyncConnector, scope: 'all' | { remoteIds: readonly string[] }): AsyncIterableIterator<Found<RemoteUser>> {
  if (scope !== 'all') {
    yield* readChunks(deps, scope.remoteIds, (id) => connector.readUser(id, { abortSignal: deps.abortSignal }), 'provision: remote users not found');
    return;
  }
  let page: RemoteUser[] = [];
  for await (const user of connector.listUsers({ abortSignal: deps.abortSignal })) {
    page.push(user);
    if (page.length >= CHUNK) {
      yield { found: page, missing: 0 };
      page = [];
    }
  }
  if (page.length) yield { found: page, missing: 0 };
}

/** Named users, read a chunk at a time (never 100,000 reads at once); the missing ones are logged. */
async function* readChunks<T>(deps: ProvisionDeps, ids: readonly string[], read: (id: string) => Promise<T | null>, message: string): AsyncIterableIterator<Found<T>> {
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const found: (T | null)[] = await Promise.all(chunk.map(read));
    const missing = chunk.filter((_, j) => !found[j]);
    if (missing.length) deps.logger.warn({ count: missing.length, first: missing.slice(0, 5) }, message);
    yield { found: found.filter((u): u is T => !!u), missing: missing.length };
  }
}
