// GET /search (CQL) and POST /search (restriction body): name-ordered offset paging, minimal
// items unless `expand=user|group` (reference §6). No total count, as on a real server.
import type { Handler, Reply, RequestContext } from '../context.js';
import { groupListRep, userListRep } from '../entities.js';
import { parseCql } from '../cql.js';
import { illegalArgument } from '../errors.js';
import { expands, paging } from '../params.js';
import { type EntityType, type Restriction, compileGroupRestriction, compileUserRestriction } from '../restriction.js';
import { readRestriction } from '../restriction-input.js';
import type { GroupRecord, UserRecord } from '../store.js';

const NO_CACHE = { 'Cache-Control': 'no-cache, no-store' };

function entityType(ctx: RequestContext): EntityType {
  const raw = ctx.query.get('entity-type');
  if (raw === null) throw illegalArgument('entity-type query parameter required.');
  const t = raw.toLowerCase();
  if (t !== 'user' && t !== 'group') throw illegalArgument(`Unknown type: ${raw}`);
  return t;
}

/** Walks name-ordered lower names, resolving and filtering lazily until the page is full. */
function collect<T>(ordered: readonly string[], resolve: (n: string) => T, test: ((r: T) => boolean) | null, start: number, max: number): T[] {
  if (test === null) {
    const end = max === Infinity ? ordered.length : Math.min(ordered.length, start + max);
    const out: T[] = [];
    for (let i = start; i < end; i++) out.push(resolve(ordered[i] as string));
    return out;
  }
  const out: T[] = [];
  let skipped = 0;
  for (const name of ordered) {
    const rec = resolve(name);
    if (!test(rec)) continue;
    if (skipped < start) {
      skipped++;
      continue;
    }
    out.push(rec);
    if (out.length >= max) break;
  }
  return out;
}

function run(ctx: RequestContext, entity: EntityType, restriction: Restriction): Reply {
  const page = paging(ctx);
  const ex = expands(ctx);
  const store = ctx.store;
  if (entity === 'user') {
    const test = restriction.kind === 'null' ? null : compileUserRestriction(restriction);
    const users = collect(store.orderedUsers(), (n) => store.getUserByLower(n) as UserRecord, test, page.start, page.max);
    return { status: 200, headers: NO_CACHE, rep: userListRep(ctx.render, users, { expand: ex.has('user'), withAttributes: ex.has('attributes') }) };
  }
  const test = restriction.kind === 'null' ? null : compileGroupRestriction(restriction);
  const groups = collect(store.orderedGroups(), (n) => store.getGroupByLower(n) as GroupRecord, test, page.start, page.max);
  return { status: 200, headers: NO_CACHE, rep: groupListRep(ctx.render, groups, { expand: ex.has('group'), withAttributes: ex.has('attributes') }) };
}

export const searchByCql: Handler = (ctx) => {
  const entity = entityType(ctx);
  return run(ctx, entity, parseCql(ctx.query.get('restriction') ?? '', entity));
};

export const searchByBody: Handler = (ctx) => {
  const restriction = readRestriction(ctx);
  return run(ctx, entityType(ctx), restriction);
};
