import { Job, type Queue, type QueueEvents } from 'bullmq';
import { z } from 'zod';
import { ValidationError } from '../shared/errors.js';
import { provisionScopeSchema, type ProvisionResult, type ProvisionScope, type SyncProgress } from '../shared/jobs.js';
import { withRedisErrors } from '../shared/redis-errors.js';
import { validate } from '../shared/validation.js';
import type { ProvisionOptions, ProvisionRun } from './client-options.js';

const directionSchema = z.enum(['to-target', 'from-target']).default('to-target');
// A provisioning run may take hours; the bound is what a timer can hold (about 24.8 days).
const finishedTimeoutSchema = z.number('must be a number of ms').int('must be a whole number of ms').positive('must be positive').max(2_147_483_647);

/** Checks a provision call; `remoteIds` name remote users, so they only make sense when importing. */
export function parseProvision(scope: unknown, options: ProvisionOptions | undefined): { scope: ProvisionScope; direction: 'to-target' | 'from-target' } {
  const direction = validate(directionSchema, options?.direction, 'options', ['direction']);
  const parsed = validate(provisionScopeSchema, scope, 'provision scope');
  if (direction === 'to-target' && typeof parsed === 'object' && 'remoteIds' in parsed) {
    throw new ValidationError([{ path: 'remoteIds', message: "only with direction 'from-target'; to push application users, pass { ids }" }], 'provision scope');
  }
  return { scope: parsed, direction };
}

/** A handle on an accepted provision job: read its progress, or wait for its result. */
export function provisionRun(queue: Queue, jobId: string, events: () => Promise<QueueEvents>): ProvisionRun {
  return withRedisErrors<ProvisionRun>({
    target: 'sync',
    jobId,
    async progress() {
      const job = await Job.fromId(queue, jobId);
      return isProgress(job?.progress) ? job.progress : undefined;
    },
    async finished(options = {}) {
      const { onProgress } = options;
      const timeoutMs = validate(finishedTimeoutSchema.optional(), options.timeoutMs, 'options', ['timeoutMs']);
      const qe = await events();
      // A throwing callback ends the wait with its error rather than breaking the event stream.
      let callbackFailed!: (err: unknown) => void;
      const failed = new Promise<never>((_, reject) => (callbackFailed = reject));
      failed.catch(() => undefined);
      let last: string | undefined;
      const report = (p: unknown) => {
        if (!onProgress || !isProgress(p)) return;
        const seen = JSON.stringify(p);
        if (seen === last) return;
        last = seen;
        try {
          onProgress(p);
        } catch (err) {
          callbackFailed(err);
        }
      };
      const listener = ({ jobId: id, data }: { jobId: string; data: unknown }) => id === jobId && report(data);
      if (onProgress) qe.on('progress', listener);
      try {
        const job = await Job.fromId(queue, jobId);
        if (!job) throw new Error(`provision job ${jobId} no longer exists`);
        // Listening first, then reading: progress made before the call is reported too.
        report(job.progress);
        const result = (await Promise.race([job.waitUntilFinished(qe, timeoutMs), failed])) as ProvisionResult;
        // The job can finish before its last progress event reaches us: report what it stored.
        if (onProgress) report((await Job.fromId(queue, jobId))?.progress);
        return result;
      } finally {
        qe.off('progress', listener);
      }
    },
  });
}

function isProgress(value: unknown): value is SyncProgress {
  return typeof value === 'object' && value !== null && typeof (value as SyncProgress).phase === 'string';
}
