import type { Redis } from 'ioredis';
import { sibling } from '../shared/redis.js';
import { auditMatcher, decodeAuditEntry, type AuditLog, type AuditQuery, type StoredAuditEntry } from '../shared/audit.js';

/**
 * `idsync audit tail [-f]`: the latest entries, oldest of them first, then (with `follow`) every
 * entry appended after them, read with XREAD BLOCK on a connection of its own (a blocked
 * connection can serve nothing else). Following resumes from the id of the newest entry already
 * seen, so an entry appended while the latest ones were being read is neither lost nor repeated.
 */

export interface TailOptions {
  /** How many of the latest entries to show first. @defaultValue 20 */
  count?: number;
  follow?: boolean;
  /** Ends following (Ctrl-C); the iterator then returns. */
  signal?: AbortSignal;
  /** Subject / target / status / operation filters; time bounds and limit are ignored. */
  filters?: Omit<AuditQuery, 'since' | 'until' | 'limit'>;
  /** How long one XREAD blocks before it is issued again. @defaultValue 5000 */
  blockMs?: number;
}

export async function* tailAudit(audit: AuditLog, redis: Redis, options: TailOptions = {}): AsyncIterableIterator<StoredAuditEntry> {
  const filters = options.filters ?? {};
  // The newest id first: the latest entries are read up to it, and following starts after it.
  const [newest] = await redis.xrevrange(audit.key, '+', '-', 'COUNT', 1);
  let lastId = newest?.[0] ?? '0-0';
  const latest = await audit.query({ ...filters, limit: options.count ?? 20 });
  for (const entry of latest.reverse()) if (compareIds(entry.id, lastId) <= 0) yield entry;
  if (!options.follow || options.signal?.aborted) return;

  const reader = sibling(redis, 'worker');
  reader.on('error', () => undefined); // reconnects on its own; a lost connection must not crash the tail
  const stop = () => reader.status !== 'end' && reader.disconnect();
  options.signal?.addEventListener('abort', stop, { once: true });
  const matches = auditMatcher(filters);
  try {
    while (!options.signal?.aborted) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await reader.xread('COUNT', 500, 'BLOCK', options.blockMs ?? 5000, 'STREAMS', audit.key, lastId)) as typeof reply;
      } catch (err) {
        if (options.signal?.aborted) return; // the disconnect that ends the tail rejects the blocked read
        throw err;
      }
      for (const [, rows] of reply ?? []) {
        for (const [id, flat] of rows) {
          lastId = id;
          const entry = decodeAuditEntry(id, flat);
          if (matches(entry)) yield entry;
        }
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    // A second disconnect of a closed connection arms a 2 s timer that nothing clears.
    if (reader.status !== 'end') reader.disconnect();
  }
}

/** Orders stream ids (`<ms>-<seq>`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}
