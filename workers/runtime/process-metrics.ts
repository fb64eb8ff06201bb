import { Counter, Gauge, type Metric } from 'prom-client';

/**
 * Metrics that code deep inside a process updates (HTTP clients, the request budget, the
 * failure mapping, the planner) without a runtime object at hand. They belong to no registry
 * of their own; each RuntimeMetrics registry serves them on /metrics.
 */
export const remoteCalls = new Counter({
  name: 'idsync_remote_calls_total',
  help: 'HTTP calls to a remote by target, method, route (ids replaced by {id}) and status (or "error" without a reply)',
  labelNames: ['target', 'method', 'route', 'status'] as const,
  registers: [],
});

export const throttleEvents = new Counter({
  name: 'idsync_throttle_events_total',
  help: 'Throttled answers (429 / Retry-After) that paused a target queue',
  labelNames: ['target'] as const,
  registers: [],
});

export const budgetRequests = new Counter({
  name: 'idsync_budget_requests_total',
  help: 'Requests taken from a shared request budget',
  labelNames: ['budget'] as const,
  registers: [],
});

export const budgetWaitSeconds = new Counter({
  name: 'idsync_budget_wait_seconds_total',
  help: 'Time spent waiting for a shared request budget (high = the budget, not the remote, sets the pace)',
  labelNames: ['budget'] as const,
  registers: [],
});

export const planEntries = new Gauge({
  name: 'idsync_plan_entries',
  help: 'Entries of the latest full-sync plan by target and action',
  labelNames: ['target', 'action'] as const,
  registers: [],
});

export const PROCESS_METRICS: readonly Metric[] = [remoteCalls, throttleEvents, budgetRequests, budgetWaitSeconds, planEntries];

const ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|.*@.*|\d+)$/i;
const COLLECTIONS = new Set(['users', 'groups', 'directoryObjects', 'deletedItems', 'members', 'memberOf']);

/** A route label without ids or names, so the label's values stay few: `/users/{id}/memberOf`. */
export function routeOf(path: string): string {
  const parts = path.split('?')[0]!.split('/');
  return parts.map((p, i) => (i > 0 && (ID.test(p) || (COLLECTIONS.has(parts[i - 1]!) && p !== '' && !p.startsWith('$') && p !== 'delta' && !COLLECTIONS.has(p))) ? '{id}' : p)).join('/');
}
