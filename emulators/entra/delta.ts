import type { Core } from './core.js';
import type { UserRecord } from './directory.js';
import { GraphError, badRequest, unsupportedQuery } from './errors.js';
import { json, type GraphRequest, type GraphResponse } from './http.js';
import { parseFilter, type Expr } from './odata.js';
import { requirePermission } from './permissions.js';
import { USER, contextUrl, parseSelect, project } from './schema.js';
import { decodeToken, encodeToken } from './tokens.js';

/**
 * State carried in delta links. `p`: 'snap' = round-1 page, 'chg' = change page, 'link' = deltaLink.
 * `w`: log sequence the state starts from; `h`: end of a change round; `a`: last user seq
 * served (snapshot); `o`: offset in the change list; `i`: issue time; `g`: reset generation.
 */
interface DeltaState {
  p: 'snap' | 'chg' | 'link';
  g: number;
  i: number;
  w: number;
  h?: number;
  a?: number;
  o?: number;
  s?: string[];
  ids?: string[];
  /** Page size from the round's first `Prefer: odata.maxpagesize`, kept for its nextLinks. */
  m?: number;
}

interface Change {
  userId: string;
  removed?: 'changed' | 'deleted';
  /** null: send the whole object. */
  props: Set<string> | null;
}

const MAX_IDS = 50;
const MAX_PAGE = 999;

const SYNC_STATE_NOT_FOUND = 'The sync state generation is not found. The delta token is expired and data must be synchronized again.';

/** Change lists are computed once per round and paged by offset. */
const roundCache = new WeakMap<Core, Map<string, Change[]>>();

/**
 * Knob for the duplicate quirk (`deltaDuplicates`): Graph repeats a user on a later page
 * when it changed while the round was paging, so the repeat carries newer values than the
 * first copy. With edits set, the repeated user is updated with them just before it is
 * served again (a real change: it is logged and shows up in the next round too). Tied to
 * the delta generation, so a reset clears it.
 */
const repeatEdits = new WeakMap<Core, { generation: number; changes: Record<string, string | null> }>();

export function setDeltaRepeatEdits(core: Core, changes: Record<string, string | null> | undefined): void {
  if (!changes) {
    repeatEdits.delete(core);
    return;
  }
  const unknown = Object.keys(changes).filter((name) => name === 'id' || USER.props.get(name)?.kind !== 's');
  if (unknown.length) throw new Error(`delta repeat edits take string user properties; not: ${unknown.join(', ')}`);
  repeatEdits.set(core, { generation: core.deltaGeneration, changes: { ...changes } });
}

/** Applies the repeat edits to the user a page opens with again (the previous page's last). */
function editRepeat(core: Core, rec: UserRecord | undefined, now: number): void {
  const edits = repeatEdits.get(core);
  if (!rec || !edits || edits.generation !== core.deltaGeneration) return;
  core.directory.updateUser(rec, edits.changes, now);
}

export function userDelta(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readUsers');
  const q = req.query;
  for (const opt of ['$top', '$orderby', '$expand']) {
    if (q.has(opt)) throw unsupportedQuery(`The query option '${opt}' is not supported with delta.`);
  }
  const skip = q.get('$skiptoken');
  const delta = q.get('$deltatoken');
  const token = skip || delta;
  const now = core.clock.now();
  if (delta === 'latest') {
    const state = roundOne(req, core, now);
    return page(req, [], { ...state, p: 'link', w: core.directory.log.safeHead(now), i: now });
  }
  if (!token) return snapshotPage(req, core, roundOne(req, core, now), false);
  if (q.has('$select') || q.has('$filter')) {
    throw badRequest("Delta queries with both $select and $skiptoken aren't supported.");
  }
  const state = decodeToken<DeltaState>(token);
  if (!state || !['snap', 'chg', 'link'].includes(state.p) || typeof state.w !== 'number') {
    throw new GraphError(400, 'Request_BadRequest', 'The delta token is not valid.');
  }
  if (state.g !== core.deltaGeneration) throw resyncRequired(req, state);
  const ttl = core.clock.scaled(core.faults.deltaTokenTtlSeconds);
  if (now - state.i > ttl || state.i < core.deltaNotBefore) {
    throw new GraphError(400, 'syncStateNotFound', SYNC_STATE_NOT_FOUND);
  }
  if (state.p === 'snap') return snapshotPage(req, core, state, true);
  return changePage(req, core, state);
}

function roundOne(req: GraphRequest, core: Core, now: number): DeltaState {
  const select = parseSelect(USER, req.query.get('$select'));
  const filter = req.query.get('$filter');
  const state: DeltaState = { p: 'snap', g: core.deltaGeneration, i: now, w: core.directory.log.safeHead(now), a: 0 };
  if (select) state.s = select;
  if (filter !== undefined) state.ids = idFilter(filter);
  const size = preferredPageSize(req);
  if (size !== undefined) state.m = size;
  return state;
}

/** Delta on users filters only by `id eq '…'` (or-ed, at most 50). */
function idFilter(raw: string): string[] {
  const ids: string[] = [];
  const walk = (e: Expr): void => {
    if (e.k === 'or') {
      walk(e.a);
      walk(e.b);
    } else if (e.k === 'cmp' && e.op === 'eq' && e.path.length === 1 && e.path[0]!.toLowerCase() === 'id' && typeof e.v === 'string') {
      ids.push(e.v.toLowerCase());
    } else {
      throw unsupportedQuery('Delta query on users supports $filter only on id with the eq operator.');
    }
  };
  walk(parseFilter(raw));
  if (ids.length > MAX_IDS) throw unsupportedQuery(`Delta query on users supports at most ${MAX_IDS} ids in $filter.`);
  return ids;
}

function preferredPageSize(req: GraphRequest): number | undefined {
  const m = /odata\.maxpagesize=(\d+)/i.exec(req.headers.prefer ?? '');
  return m ? Math.max(1, Math.min(MAX_PAGE, Number(m[1]))) : undefined;
}

function pageSize(req: GraphRequest, core: Core, state: DeltaState): number {
  return preferredPageSize(req) ?? state.m ?? Math.max(1, Math.min(MAX_PAGE, core.faults.deltaPageSize));
}

const minimal = (req: GraphRequest): boolean => /return=minimal/i.test(req.headers.prefer ?? '');

function render(rec: UserRecord, select: string[] | undefined, props: Set<string> | null, minimalMode: boolean): Record<string, unknown> {
  if (minimalMode && props) {
    const names = [...props].filter((p) => USER.props.has(p) && (!select || select.includes(p)));
    // Minimal responses report cleared values as null.
    const out: Record<string, unknown> = {};
    for (const n of names) out[n] = USER.complete[n] ? project(USER, rec.values, [n])[n] : (rec.values[n] ?? null);
    out.id = rec.id;
    return out;
  }
  return project(USER, rec.values, select, { omitAbsent: true, alwaysId: true });
}

function snapshotPage(req: GraphRequest, core: Core, state: DeltaState, continuing: boolean): GraphResponse {
  const size = pageSize(req, core, state);
  const now = core.clock.now();
  const ids = state.ids ? new Set(state.ids) : undefined;
  const items: UserRecord[] = [];
  let more = false;
  // The duplicate quirk: the previous page's last user opens this page again.
  const from = continuing && core.faults.deltaDuplicates && (state.a ?? 0) > 0 ? (state.a ?? 0) - 1 : (state.a ?? 0);
  core.directory.scanUsers(from, now, (rec) => {
    if (ids && !ids.has(rec.id)) return true;
    if (items.length === size) {
      more = true;
      return false;
    }
    items.push(rec);
    return true;
  });
  if (from !== (state.a ?? 0) && items[0]?.seq === state.a) editRepeat(core, items[0], now);
  const value = items.map((rec) => render(rec, state.s, null, false));
  const next: DeltaState = more ? { ...state, a: items[items.length - 1]!.seq } : { ...state, p: 'link', i: now };
  return page(req, value, next);
}

function changesFor(core: Core, state: DeltaState, to: number): Change[] {
  const key = `${core.deltaGeneration}:${state.w}:${to}:${state.s?.join(',') ?? ''}:${state.ids?.join(',') ?? ''}`;
  let cache = roundCache.get(core);
  if (!cache) roundCache.set(core, (cache = new Map()));
  const hit = cache.get(key);
  if (hit) return hit;
  const ids = state.ids ? new Set(state.ids) : undefined;
  const net = new Map<string, { props: Set<string> | null; whole: boolean }>();
  for (const e of core.directory.log.range(state.w, to)) {
    if (ids && !ids.has(e.userId)) continue;
    const prev = net.get(e.userId);
    net.delete(e.userId); // re-insert: order by last change
    const whole = (prev?.whole ?? false) || e.props === null;
    const props = new Set([...(prev?.props ?? []), ...(e.props ?? [])]);
    net.set(e.userId, { props, whole });
  }
  const out: Change[] = [];
  for (const [userId, n] of net) {
    const live = core.directory.users.get(userId);
    if (live) {
      if (!n.whole && state.s && ![...(n.props ?? [])].some((p) => state.s!.includes(p))) continue;
      out.push({ userId, props: n.whole ? null : n.props });
    } else if (core.directory.deleted.has(userId)) {
      out.push({ userId, removed: 'changed', props: null });
    } else {
      out.push({ userId, removed: 'deleted', props: null });
    }
  }
  if (cache.size > 32) cache.clear();
  cache.set(key, out);
  return out;
}

function changePage(req: GraphRequest, core: Core, state: DeltaState): GraphResponse {
  const now = core.clock.now();
  const to = state.p === 'link' ? core.directory.log.safeHead(now) : (state.h ?? state.w);
  const changes = changesFor(core, state, to);
  const size = pageSize(req, core, state);
  const offset = state.p === 'chg' ? (state.o ?? 0) : 0;
  const start = state.p === 'chg' && core.faults.deltaDuplicates && offset > 0 ? offset - 1 : offset;
  const slice = changes.slice(start, start + size);
  if (start !== offset && slice[0] && !slice[0].removed) editRepeat(core, core.directory.users.get(slice[0].userId), now);
  const min = minimal(req);
  const value: Record<string, unknown>[] = [];
  for (const c of slice) {
    const rec = core.directory.users.get(c.userId);
    if (c.removed || !rec) value.push({ id: c.userId, '@removed': { reason: c.removed ?? 'deleted' } });
    else value.push(render(rec, state.s, c.props, min));
  }
  const end = start + slice.length;
  const next: DeltaState = end < changes.length ? { ...state, p: 'chg', h: to, o: end } : { ...state, p: 'link', w: to, i: now, h: undefined, o: undefined };
  const res = page(req, value, next);
  if (min) res.headers['Preference-Applied'] = 'return=minimal';
  return res;
}

function page(req: GraphRequest, value: unknown[], next: DeltaState): GraphResponse {
  const body: Record<string, unknown> = { '@odata.context': contextUrl(req.origin, 'users', next.s, false) };
  const token = encodeToken(next);
  if (next.p === 'link') body['@odata.deltaLink'] = `${req.origin}/v1.0/users/delta?$deltatoken=${token}`;
  else body['@odata.nextLink'] = `${req.origin}/v1.0/users/delta?$skiptoken=${token}`;
  body.value = value;
  return json(200, body);
}

/** 410 Gone with a Location to start over: the initial query with an empty $deltatoken. */
function resyncRequired(req: GraphRequest, state: DeltaState): GraphError {
  const params: string[] = [];
  if (state.s) params.push(`$select=${state.s.join(',')}`);
  if (state.ids) params.push(`$filter=${encodeURIComponent(state.ids.map((id) => `id eq '${id}'`).join(' or '))}`);
  params.push('$deltatoken=');
  return new GraphError(
    410,
    'resyncRequired',
    'Resync required. Replace any local cached copies of the directory objects with the full results of a fresh delta query. The delta token has expired or is not valid.',
    undefined,
    { Location: `${req.origin}/v1.0/users/delta?${params.join('&')}` },
  );
}
