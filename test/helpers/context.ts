import { createLogger } from '../../shared/logger.js';
import type { ConnectorContext } from '../../workers/runtime/connector.js';

/** A connector context for calling a connector directly, without a worker. */
export function context(overrides: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    link: undefined,
    logger: createLogger({ level: 'silent' }),
    abortSignal: new AbortController().signal,
    jobId: 'direct',
    attempt: 1,
    ...overrides,
  };
}
