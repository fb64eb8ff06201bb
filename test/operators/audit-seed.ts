import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { AuditEntry } from '../../shared/audit.js';
import type { CommandIO } from '../../cli/audit.js';

export const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: Date.now(), target: 'crowd', operation: 'create', resource: 'user', subject: 'u1', status: 'succeeded', attempt: 1, durationMs: 12, ...over,
});

/**
 * Writes entries straight into the audit stream in the AuditLog's field format, pipelined, so a
 * suite can seed 100,000 of them in about a second. `id` pins the stream id (time-range tests).
 */
export async function seedAudit(redis: Redis, key: string, count: number, make: (i: number) => AuditEntry & { id?: string }): Promise<void> {
  const BATCH = 5000;
  for (let from = 0; from < count; from += BATCH) {
    const pipeline = redis.pipeline();
    for (let i = from; i < Math.min(count, from + BATCH); i++) {
      const { id, ...e } = make(i);
      const fields = [
        'time', String(e.time), 'target', e.target, 'operation', e.operation, 'resource', e.resource, 'subject', e.subject,
        'status', e.status, 'attempt', String(e.attempt), 'durationMs', String(e.durationMs),
      ];
      if (e.error !== undefined) fields.push('error', e.error);
      if (e.jobId !== undefined) fields.push('jobId', e.jobId);
      if (e.changedAttributes?.length) fields.push('changedAttributes', e.changedAttributes.join(','));
      pipeline.xadd(key, id ?? '*', ...fields);
    }
    await pipeline.exec();
  }
}

/** stdout / stderr kept as text; `until` resolves once stdout matches (no polling). */
export function captureIO(): CommandIO & { out(): string; err(): string; until(pattern: RegExp): Promise<string> } {
  let out = '';
  let err = '';
  const written = new EventEmitter();
  const sink = (add: (s: string) => void) => new Writable({
    write(chunk, _enc, done) {
      add(String(chunk));
      written.emit('data');
      done();
    },
  });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    out: () => out,
    err: () => err,
    until: (pattern) => new Promise((resolve) => {
      const check = () => {
        if (!pattern.test(out)) return;
        written.off('data', check);
        resolve(out);
      };
      written.on('data', check);
      check();
    }),
  };
}
