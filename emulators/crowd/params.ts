// Query-parameter conventions of Crowd's resources (AbstractResource, EntityQuery).
import type { RequestContext } from './context.js';
import { RawHttpError, illegalArgument } from './errors.js';

/** Crowd's 2.x wording for a missing identifier parameter. */
export function requireParam(ctx: RequestContext, name: string): string {
  const v = ctx.query.get(name);
  if (v === null) throw illegalArgument(`${name} query parameter must be given`);
  return v;
}

export function expands(ctx: RequestContext): Set<string> {
  const out = new Set<string>();
  for (const raw of ctx.query.getAll('expand')) {
    for (const part of raw.split(',')) {
      const p = part.trim().toLowerCase();
      if (p === '') continue;
      out.add(p);
      // Atlassian expand paths: `user.attributes` expands both levels.
      for (const seg of p.split('.')) out.add(seg);
    }
  }
  return out;
}

export const DEFAULT_MAX_RESULTS = 1000;

// JAX-RS maps an unparseable @QueryParam int to 404 (spec §3.2), not 400.
function intParam(ctx: RequestContext, name: string, fallback: number): number {
  const raw = ctx.query.get(name);
  if (raw === null) return fallback;
  if (!/^[+-]?\d{1,10}$/.test(raw)) throw new RawHttpError(404);
  const n = Number(raw);
  if (n > 2147483647 || n < -2147483648) throw new RawHttpError(404);
  return n;
}

export interface Page {
  start: number;
  /** Number of results to return; Infinity for `max-results=-1`. */
  max: number;
}

export function paging(ctx: RequestContext): Page {
  const start = intParam(ctx, 'start-index', 0);
  const max = intParam(ctx, 'max-results', DEFAULT_MAX_RESULTS);
  if (start < 0) throw illegalArgument('startIndex must be greater than or equal to 0');
  if (max === 0 || max < -1) throw illegalArgument('maxResults must be greater than 0 (unless set to EntityQuery.ALL_RESULTS)');
  return { start, max: max === -1 ? Infinity : max };
}

/** Slices an already ordered list. */
export function pageOf<T>(items: readonly T[], page: Page): T[] {
  return items.slice(page.start, page.max === Infinity ? undefined : page.start + page.max);
}

export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
