import type { Logger } from '../../shared/logger.js';
import type { RemoteChange } from '../runtime/connector.js';
import type { CallOptions } from './client.js';
import type { EventTokenStore } from './events.js';
import { listUsers, listUsersChangedSince, toRemoteWithGroups, type PullDeps } from './pull.js';

export interface ChangesOptions extends CallOptions {
  /** The caller's bookmark: the start of the last complete round (or full sync). */
  since: Date | undefined;
  /** Also read each user's groups and map roles (when a role map is set). */
  groups: boolean;
}

/**
 * An incremental round. With an event token from the last round, Crowd's event feed names
 * the users that changed (profile or direct groups), and each is read again. Without one
 * (the first round, or a server without incremental synchronisation) the users updated since
 * the bookmark are read (`updatedDate`, which misses membership-only changes); an expired
 * token re-reads every user, announced by a `resync`, since the feed's changes since then
 * are lost. A fresh token is taken before that read, so a change made during it is in the
 * next round's events; it is stored only once the consumer has taken every change. Deleted
 * users are left to full syncs either way (absence is not deletion, design decision 7).
 */
export async function* listCrowdChanges(deps: PullDeps, tokens: EventTokenStore | undefined, logger: Logger, options: ChangesOptions): AsyncIterableIterator<RemoteChange> {
  const call = { abortSignal: options.abortSignal };
  let expired = false;
  let next: string | undefined;
  if (tokens) {
    const stored = await tokens.get();
    if (stored) {
      const read = await deps.client.eventsSince(stored, call);
      if (read.kind === 'events') {
        for (const name of read.users) {
          const user = await deps.client.getUser({ username: name }, { ...call, attributes: true });
          // Gone again (deleted or renamed since): a later event or the full sync covers it.
          if (!user) continue;
          yield { type: 'upsert', user: options.groups ? await toRemoteWithGroups(deps, user, call) : await deps.mapping.toRemote(user) };
        }
        await tokens.set(read.token);
        return;
      }
      expired = read.kind === 'expired';
      if (expired) logger.warn('the Crowd event token expired; re-reading every user');
    }
    const current = await deps.client.currentEventToken(call);
    if (current === 'unavailable') await tokens.clear();
    else next = current;
  }
  const everything = expired || !options.since;
  const users = everything
    ? listUsers(deps, { attributes: true, groups: options.groups, abortSignal: options.abortSignal })
    : listUsersChangedSince(deps, options.since!, { attributes: true, groups: options.groups, overlapMs: 1000, abortSignal: options.abortSignal });
  if (everything) yield { type: 'resync', reason: expired ? 'expired' : 'initial' };
  for await (const user of users) yield { type: 'upsert', user };
  if (next && tokens) await tokens.set(next);
}
