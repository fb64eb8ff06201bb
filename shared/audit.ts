import type { Redis } from 'ioredis';
import { redactText } from './redact.js';

/**
 * The audit log: an append-only Redis stream of every operation attempt. Stream ids
 * are millisecond timestamps, so time-range queries are native XREVRANGE bounds;
 * subject / target / status filters are applied while paging. Capped by length on
 * every write and by age every `TRIM_EVERY` writes. Entries hold attribute *names*
 * only and error texts pass through redaction: no secret or attribute value lands here.
 */

export const AUDIT_STATUSES = ['succeeded', 'skipped', 'retrying', 'throttled', 'failed', 'quarantined'] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];

export interface AuditEntry {
  /** Epoch ms. */
  time: number;
  target: string;
  /** e.g. create, update, rename, disable, delete, password, pull, noop. */
  operation: string;
  /** The kind of thing acted on: user, group-membership, target. */
  resource: string;
  /** The application user id (or the target name for target-wide events). */
  subject: string;
  status: AuditStatus;
  attempt: number;
  durationMs: number;
  error?: string;
  jobId?: string;
  changedAttributes?: string[];
}

export interface StoredAuditEntry extends AuditEntry {
  /** The stream id, usable as a cursor. */
  id: string;
}

export interface AuditQuery {
  subject?: string;
  target?: string;
  status?: AuditStatus | AuditStatus[];
  /** e.g. `create`, or several: an entry matches any of them. */
  operation?: string | string[];
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, inclusive. */
  until?: number;
  /** Stop after this many matches. Default 100. */
  limit?: number;
}

export interface AuditLogOptions {
  /** Approximate cap on entries. @defaultValue 1,000,000 */
  maxEntries?: number;
  /** Entries older than this are trimmed. @defaultValue 90 days */
  maxAgeMs?: number;
}

const TRIM_EVERY = 1000;
const PAGE = 500;

export class AuditLog {
  readonly key: string;
  readonly #redis: Redis;
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  #writes = 0;

  constructor(redis: Redis, prefix: string, options: AuditLogOptions = {}) {
    this.#redis = redis;
    this.key = `${prefix}:audit`;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#maxAgeMs = options.maxAgeMs ?? 90 * 86_400_000;
  }

  async append(entry: AuditEntry): Promise<string> {
    const fields: string[] = [
      'time', String(entry.time),
      'target', entry.target,
      'operation', entry.operation,
      'resource', entry.resource,
      'subject', entry.subject,
      'status', entry.status,
      'attempt', String(entry.attempt),
      'durationMs', String(Math.round(entry.durationMs)),
    ];
    if (entry.error !== undefined) fields.push('error', redactText(entry.error).slice(0, 2000));
    if (entry.jobId !== undefined) fields.push('jobId', entry.jobId);
    if (entry.changedAttributes?.length) fields.push('changedAttributes', entry.changedAttributes.join(','));
    const id = await this.#redis.xadd(this.key, 'MAXLEN', '~', String(this.#maxEntries), '*', ...fields);
    if (++this.#writes % TRIM_EVERY === 0) await this.trim();
    return id as string;
  }

  /** Entries in the stream. */
  async length(): Promise<number> {
    return this.#redis.xlen(this.key);
  }

  /** Drops entries older than the age cap. */
  async trim(now = Date.now()): Promise<void> {
    await this.#redis.xtrim(this.key, 'MINID', '~', String(now - this.#maxAgeMs));
  }

  /** Newest first, filtered; pages through the stream lazily. */
  async *listEntries(query: AuditQuery = {}): AsyncIterableIterator<StoredAuditEntry> {
    const matches = auditMatcher(query);
    const limit = query.limit ?? 100;
    let end = query.until === undefined ? '+' : `${query.until}-${Number.MAX_SAFE_INTEGER}`;
    const start = query.since === undefined ? '-' : `${query.since}-0`;
    let found = 0;
    for (;;) {
      const rows = await this.#redis.xrevrange(this.key, end, start, 'COUNT', PAGE);
      for (const [id, flat] of rows) {
        const entry = decodeAuditEntry(id, flat);
        if (!matches(entry)) continue;
        yield entry;
        if (++found >= limit) return;
      }
      if (rows.length < PAGE) return;
      end = `(${rows[rows.length - 1]![0]}`;
    }
  }

  /**
   * Every page of the time range, oldest first, with the matching entries of each page: for
   * callers that stream a large range (export) and report progress in entries scanned. No limit;
   * only one page is held at a time.
   */
  async *pages(query: Omit<AuditQuery, 'limit'> = {}, options: { pageSize?: number } = {}): AsyncIterableIterator<AuditPage> {
    const matches = auditMatcher(query);
    const pageSize = options.pageSize ?? PAGE;
    let start = query.since === undefined ? '-' : `${query.since}-0`;
    const end = query.until === undefined ? '+' : `${query.until}-${Number.MAX_SAFE_INTEGER}`;
    for (;;) {
      const rows = await this.#redis.xrange(this.key, start, end, 'COUNT', pageSize);
      if (!rows.length) return;
      const entries: StoredAuditEntry[] = [];
      for (const [id, flat] of rows) {
        const entry = decodeAuditEntry(id, flat);
        if (matches(entry)) entries.push(entry);
      }
      const lastId = rows[rows.length - 1]![0];
      yield { entries, scanned: rows.length, lastId };
      if (rows.length < pageSize) return;
      start = `(${lastId}`;
    }
  }

  /** Convenience for callers that want an array. */
  async query(query: AuditQuery = {}): Promise<StoredAuditEntry[]> {
    const out: StoredAuditEntry[] = [];
    for await (const e of this.listEntries(query)) out.push(e);
    return out;
  }
}

export interface AuditPage {
  /** The entries of this page that match the query, oldest first. */
  entries: StoredAuditEntry[];
  /** Stream entries read for this page, matching or not. */
  scanned: number;
  lastId: string;
}

/** The query's subject / target / status / operation filters as a predicate (time bounds are stream ids). */
export function auditMatcher(query: Omit<AuditQuery, 'since' | 'until' | 'limit'>): (entry: AuditEntry) => boolean {
  const statuses = query.status === undefined ? undefined : new Set<string>([query.status].flat());
  const operations = query.operation === undefined ? undefined : new Set([query.operation].flat());
  return (entry) =>
    (query.subject === undefined || entry.subject === query.subject)
    && (query.target === undefined || entry.target === query.target)
    && (!statuses || statuses.has(entry.status))
    && (!operations || operations.has(entry.operation));
}

/** A stream entry (`XRANGE` / `XREAD` reply: id and flat field list) as an audit entry. */
export function decodeAuditEntry(id: string, flat: string[]): StoredAuditEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  return {
    id,
    time: Number(f.time),
    target: f.target ?? '',
    operation: f.operation ?? '',
    resource: f.resource ?? '',
    subject: f.subject ?? '',
    status: (f.status ?? 'failed') as AuditStatus,
    attempt: Number(f.attempt ?? 0),
    durationMs: Number(f.durationMs ?? 0),
    ...(f.error !== undefined && { error: f.error }),
    ...(f.jobId !== undefined && { jobId: f.jobId }),
    ...(f.changedAttributes !== undefined && { changedAttributes: f.changedAttributes.split(',') }),
  };
}
