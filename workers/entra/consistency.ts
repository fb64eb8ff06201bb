import { TransientError } from '../../shared/errors.js';

/**
 * Graph is eventually consistent (reference §12.7): right after a create or a restore, a read
 * of the user or a membership add naming it may answer 404 for a while. Such steps are
 * repeated a few times in place, then left to the job's retry as a TransientError.
 */
export interface ConsistencyOptions {
  /** Tries of a step that may meet a just-created or restored user invisible. @defaultValue 5 */
  attempts?: number;
  /** Pause between them. @defaultValue 500 */
  delayMs?: number;
}

export const INVISIBLE = 'invisible' as const;

export class Consistency {
  readonly #attempts: number;
  readonly #delayMs: number;

  constructor(options: ConsistencyOptions = {}) {
    this.#attempts = Math.max(1, options.attempts ?? 5);
    this.#delayMs = options.delayMs ?? 500;
  }

  /** Runs `step` until it returns something other than INVISIBLE. */
  async whileInvisible<T>(step: () => Promise<T | typeof INVISIBLE>, subject: string, abortSignal?: AbortSignal): Promise<T> {
    for (let i = 1; ; i++) {
      const result = await step();
      if (result !== INVISIBLE) return result;
      if (i >= this.#attempts) break;
      await sleep(this.#delayMs, abortSignal);
    }
    throw new TransientError(`Entra user ${subject} is not visible yet after ${this.#attempts} tries (Graph is eventually consistent after a create or restore)`, { code: 'NOT_VISIBLE_YET', status: 404 });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
