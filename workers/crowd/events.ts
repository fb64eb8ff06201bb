import type { Redis } from 'ioredis';
import { XMLParser } from 'fast-xml-parser';

/**
 * Crowd's incremental synchronisation (reference §7): `GET /event` names the current position
 * of the directory's change log, `GET /event/{token}` returns what changed since and the next
 * token. The lists are read as XML, Crowd's documented shape (the JSON one is not documented,
 * and the official client reads XML too). A token that is unknown or too old answers 410
 * EVENT_TOKEN_EXPIRED; a server without the feature 400 INCREMENTAL_SYNC_NOT_AVAILABLE (or a
 * token reply with `incrementalSynchronisationAvailable="false"`; 404 on servers before it).
 */

export type EventRead =
  | { kind: 'events'; token: string; users: string[] }
  | { kind: 'expired' }
  | { kind: 'unavailable' };

const EVENT_ELEMENTS = new Set(['userEvent', 'groupEvent', 'userMembershipEvent', 'groupMembershipEvent', 'group']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  isArray: (name) => EVENT_ELEMENTS.has(name),
});

/** The `<events>` root of an XML body, or undefined when the body is not one. */
export function parseEventsXml(text: string): { token: string | undefined; available: boolean; users: string[] } | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const root = doc['events'];
  if (root === undefined) return undefined;
  const events = (typeof root === 'object' && root !== null ? root : {}) as Record<string, unknown>;
  const list = (name: string) => (Array.isArray(events[name]) ? (events[name] as Record<string, unknown>[]) : []);
  const nameOf = (node: unknown) => (node && typeof node === 'object' ? (node as Record<string, unknown>)['@name'] : undefined);
  // Users created, updated or whose direct groups changed; a deleted user is named but has no
  // key left to link it by, so deletions stay with full syncs (which see the absence).
  const users: string[] = [];
  for (const e of list('userEvent')) {
    const name = nameOf(e['user']);
    if (typeof name === 'string' && e['operation'] !== 'DELETED') users.push(name);
  }
  for (const e of list('userMembershipEvent')) {
    const name = nameOf(e['childUser']);
    if (typeof name === 'string') users.push(name);
  }
  const token = events['@newEventToken'];
  return {
    token: typeof token === 'string' && token !== '' ? token : undefined,
    available: events['@incrementalSynchronisationAvailable'] !== 'false',
    users: uniqueLastSeen(users),
  };
}

/** Case-insensitive names once each, in the order last seen. */
function uniqueLastSeen(names: string[]): string[] {
  const byLower = new Map<string, string>();
  for (const n of names) {
    byLower.delete(n.toLowerCase());
    byLower.set(n.toLowerCase(), n);
  }
  return [...byLower.values()];
}

/**
 * Where the next event token is kept (`<prefix>:events:crowd`). It is stored only once the
 * consumer has taken every change of a round, so a worker that dies half-way repeats the
 * round instead of skipping changes.
 */
export class EventTokenStore {
  readonly #redis: Redis;
  readonly key: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.key = `${prefix}:events:crowd`;
  }

  async get(): Promise<string | undefined> {
    return (await this.#redis.get(this.key)) ?? undefined;
  }

  async set(token: string): Promise<void> {
    await this.#redis.set(this.key, token);
  }

  async clear(): Promise<void> {
    await this.#redis.del(this.key);
  }
}
