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
 * Progress counts finished users; the next chunk is enqueued while the current one runs.
 */
export async function provision(deps: ProvisionDeps, data: ProvisionData): Promise<ProvisionResult> {
  const started = Date.now();
  const result: ProvisionResult = { direction: data.direction, targets: {}, durationMs: 0 };
  for (const target of data.targets) {
    const connector = deps.connectors[target];
    if (!connector) throw new Error(`provisioning ${target}, but this worker does not run the ${target} target`);
    const tally = { users: 0, succeeded: 0, skipped: 0, failed: 0 };
    result.targets[target] = tally;
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
      for await (const users of appUsers(deps, scope)) {
        const snaps: (UserSnapshot & { version: number })[] = [];
        for (const u of users) {
          const s = toSnapshot(u);
          if (s.ok) snaps.push(s.snapshot);
          else {
            tally.failed++;
            deps.logger.warn({ appUserId: u.id, reason: s.reason }, 'not provisioned');
          }
        }
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
      for await (const remotes of remoteUsers(deps, connector, scope)) {
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

async function* appUsers(deps: ProvisionDeps, scope: 'all' | { ids: readonly string[] }): AsyncIterableIterator<AppUser[]> {
  if (scope === 'all') {
    yield* deps.directory.list({ pageSize: CHUNK, abortSignal: deps.abortSignal });
    return;
  }
  for (let i = 0; i < scope.ids.length; i += CHUNK) {
    const found = await Promise.all(scope.ids.slice(i, i + CHUNK).map((id) => deps.directory.get(id, { abortSignal: deps.abortSignal })));
    const missing = scope.ids.slice(i, i + CHUNK).filter((_, j) => !found[j]);
    if (missing.length) deps.logger.warn({ count: missing.length, first: missing.slice(0, 5) }, 'provision: application users not found');
    yield found.filter((u): u is AppUser => !!u);
  }
}

async function* remoteUsers(deps: ProvisionDeps, connector: SyncConnector, scope: 'all' | { remoteIds: readonly string[] }): AsyncIterableIterator<RemoteUser[]> {
  if (scope !== 'all') {
    const found = await Promise.all(scope.remoteIds.map((id) => connector.readUser(id, { abortSignal: deps.abortSignal })));
    yield found.filter((u): u is RemoteUser => !!u);
    return;
  }
  let page: RemoteUser[] = [];
  for await (const user of connector.listUsers({ abortSignal: deps.abortSignal })) {
    page.push(user);
    if (page.length >= CHUNK) {
      yield page;
      page = [];
    }
  }
  if (page.length) yield page;
}
