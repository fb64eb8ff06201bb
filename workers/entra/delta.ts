import type { Redis } from 'ioredis';
import { TransientError } from '../../shared/errors.js';
import type { RemoteUser } from '../../shared/jobs.js';
import type { GraphReply } from './client.js';
import { deltaItemSchema, pageSchema, toGraphUser, graphUserSchema } from './entities.js';
import { malformedSuccess } from './errors.js';
import { PERMISSION } from './permissions.js';
import { checkEmptyPages, toRemoteUser, userSelect, type PullDeps, type PullOptions } from './pull.js';

/**
 * Graph delta query on users (reference §5). A round follows nextLinks until a page carries
 * the deltaLink. The changes of a round are collected by object id first, so a user Graph
 * returns on two pages (its known duplicate quirk) is handed over once, as last seen; they
 * are handed over only once the round is complete, so a round-1 (or re-sync) is a complete,
 * verified enumeration: anything it lacks is gone (design decision 7).
 *
 * The deltaLink is stored in Redis (`<prefix>:delta:entra`, with the `$select` it was issued
 * for) only after the consumer has taken every change of the round: a worker that dies
 * half-way repeats the round, which is harmless, instead of skipping changes. An expired
 * token (400 `syncStateNotFound`) or a reset (410 Gone) starts a fresh round-1, announced by
 * a `resync` change; so does a changed `$select` (a new mapping).
 */

export type DeltaChange =
  /** What follows is the complete current state; users it does not contain no longer exist. */
  | { type: 'resync'; reason: 'initial' | 'expired' | 'reset' | 'mapping-changed' }
  | { type: 'upsert'; user: RemoteUser }
  /** `changed`: soft-deleted (restorable for 30 days); `deleted`: gone for good. */
  | { type: 'removed'; remoteId: string; reason: 'changed' | 'deleted' };

export interface DeltaOptions extends PullOptions {
  /** Page size asked for with `Prefer: odata.maxpagesize` (delta takes no `$top`). @defaultValue 999 */
  pageSize?: number;
}

interface Stored {
  link: string;
  select: string;
  savedAt: number;
}

type Item = { removed: 'changed' | 'deleted' } | { user: Record<string, unknown> };

const MAX_RESTARTS = 2;

export class DeltaStore {
  readonly #redis: Redis;
  readonly key: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.key = `${prefix}:delta:entra`;
  }

  async get(): Promise<Stored | undefined> {
    const raw = await this.#redis.get(this.key);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Stored;
    } catch {
      return undefined;
    }
  }

  async set(link: string, select: string): Promise<void> {
    await this.#redis.set(this.key, JSON.stringify({ link, select, savedAt: Date.now() } satisfies Stored));
  }

  async clear(): Promise<void> {
    await this.#redis.del(this.key);
  }
}

/** One delta round: its changes, in the order last seen, then the stored deltaLink moves on. */
export async function* listUsersDelta(deps: PullDeps, store: DeltaStore, options: DeltaOptions = {}): AsyncIterableIterator<DeltaChange> {
  const select = userSelect(deps.mapping);
  const stored = await store.get();
  let start: string | undefined = stored?.select === select ? stored.link : undefined;
  let reason: Extract<DeltaChange, { type: 'resync' }>['reason'] | undefined = !stored ? 'initial' : start ? undefined : 'mapping-changed';
  let round: Awaited<ReturnType<typeof readRound>>;
  for (let restarts = 0; ; restarts++) {
    round = await readRound(deps, start, select, options);
    if (round.kind === 'complete') break;
    if (restarts >= MAX_RESTARTS) throw new TransientError(`Graph kept refusing delta rounds (${round.kind}); try again later`, { code: 'syncStateNotFound' });
    // Start over from a fresh round-1: the complete state, which is the full re-sync.
    start = undefined;
    reason = round.kind;
  }
  if (reason) yield { type: 'resync', reason };
  for (const [id, item] of round.items) {
    if ('removed' in item) yield { type: 'removed', remoteId: id, reason: item.removed };
    else yield { type: 'upsert', user: await toRemoteUser(deps, toGraphUser(graphUserSchema.parse(item.user)), options) };
  }
  await store.set(round.deltaLink, select);
}

type Round = { kind: 'complete'; items: Map<string, Item>; deltaLink: string } | { kind: 'expired' | 'reset' };

async function readRound(deps: PullDeps, start: string | undefined, select: string, options: DeltaOptions): Promise<Round> {
  const items = new Map<string, Item>();
  const headers = { Prefer: `odata.maxpagesize=${Math.max(1, Math.min(999, options.pageSize ?? 999))}` };
  let link: string = start ?? '/users/delta';
  let query: Record<string, string> | undefined = start ? undefined : { $select: select };
  let empty = 0;
  for (;;) {
    const reply: GraphReply = await deps.client.get(link, { abortSignal: options.abortSignal, query, headers, accept: [400, 404, 410], permission: PERMISSION.readUsers });
    if (reply.status === 410) return { kind: 'reset' };
    if (reply.status !== 200) {
      const code = reply.error?.code ?? '';
      if (/syncStateNotFound|resyncRequired/i.test(code) || /sync state generation is not found/i.test(reply.error?.message ?? '')) return { kind: 'expired' };
      throw deps.client.refusal(reply);
    }
    const page = pageSchema.safeParse(reply.json);
    if (!page.success) throw malformedSuccess(reply.call, reply.raw, 'a body without a "value" list');
    for (const raw of page.data.value) {
      const item = deltaItemSchema.safeParse(raw);
      if (!item.success) throw malformedSuccess(reply.call, reply.raw, 'a delta item without an id');
      // Re-inserting moves a repeated user to its latest position: last seen wins.
      items.delete(item.data.id);
      const removed = item.data['@removed']?.reason;
      items.set(item.data.id, removed !== undefined ? { removed: removed === 'changed' ? 'changed' : 'deleted' } : { user: item.data });
    }
    const deltaLink = page.data['@odata.deltaLink'];
    if (deltaLink) return { kind: 'complete', items, deltaLink };
    const next = page.data['@odata.nextLink'];
    if (!next) throw malformedSuccess(reply.call, reply.raw, 'a delta page with neither a nextLink nor a deltaLink');
    empty = page.data.value.length ? 0 : empty + 1;
    checkEmptyPages(empty, reply);
    link = next;
    query = undefined;
  }
}
