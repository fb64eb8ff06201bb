import { GraphError, badRequest, unsupportedQuery } from './errors.js';
import { json, type GraphRequest, type GraphResponse } from './http.js';
import {
  classifyFilter,
  evaluate,
  matchesSearch,
  parseCountFlag,
  parseFilter,
  parseOrderBy,
  parseSearch,
  parseTop,
  sortRecords,
  type CapabilityTable,
  type Expr,
  type PropertyResolver,
} from './odata.js';
import { contextUrl, parseSelect, project, type EntitySchema } from './schema.js';
import { decodeToken, encodeToken } from './tokens.js';

export interface ListSpec<T> {
  schema: EntitySchema;
  filters: CapabilityTable;
  /** Path of the collection under /v1.0, for nextLinks. */
  path: string;
  scan(afterSeq: number, visit: (rec: T) => boolean): void;
  /** Records matching an indexed equality in the filter, if it has one. */
  byIndex?(expr: Expr): T[] | undefined;
  values(rec: T): Record<string, unknown>;
  seq(rec: T): number;
  orderBy: { defaults: readonly string[]; advanced: readonly string[] };
  searchable: readonly string[];
  /** Properties refused on list `$select` (SharePoint-backed user properties → 501). */
  notOnList?: ReadonlySet<string>;
  /** Extra fields per item, e.g. `@odata.type` in directoryObject collections. */
  decorate?: (rec: T, out: Record<string, unknown>) => Record<string, unknown>;
  contextSet?: string;
}

/** Query state carried inside `$skiptoken`, so nextLinks work without re-sending anything. */
interface PageState {
  f?: string;
  s?: string;
  t?: number;
  c?: boolean;
  o?: string;
  q?: string;
  adv?: boolean;
  a: number;
  off?: number;
}

export const DEFAULT_PAGE_SIZE = 100;

export function resolver(schema: EntitySchema): PropertyResolver {
  return { typeName: schema.typeName, canonical: (name) => schema.byLowerName.get(name.toLowerCase()) };
}

export function isEventual(req: GraphRequest): boolean {
  return (req.headers.consistencylevel ?? '').toLowerCase() === 'eventual';
}

interface Prepared<T> {
  state: PageState;
  select: string[] | undefined;
  top: number;
  advanced: boolean;
  count: boolean;
  predicate: (rec: T) => boolean;
  filter: Expr | undefined;
  order: ReturnType<typeof parseOrderBy>;
}

function prepare<T>(req: GraphRequest, spec: ListSpec<T>, countEndpoint: boolean): Prepared<T> {
  const q = req.query;
  let state: PageState;
  const skipToken = q.get('$skiptoken');
  if (skipToken !== undefined) {
    const decoded = decodeToken<PageState>(skipToken);
    if (!decoded || typeof decoded.a !== 'number') {
      throw new GraphError(400, 'Directory_ExpiredPageToken', 'The specified page token value has expired and can no longer be included in your request.');
    }
    state = decoded;
  } else {
    if (q.has('$skip')) throw badRequest("'$skip' is not supported by the service.");
    if (q.has('$expand')) throw unsupportedQuery();
    state = { f: q.get('$filter'), s: q.get('$select'), t: parseTop(q.get('$top')), c: parseCountFlag(q.get('$count')), o: q.get('$orderby'), q: q.get('$search'), a: 0 };
    const eventual = isEventual(req);
    state.adv = eventual && (state.c === true || countEndpoint);
    if (state.q !== undefined && !eventual) {
      throw unsupportedQuery("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'");
    }
  }
  const props = resolver(spec.schema);
  const select = parseSelect(spec.schema, state.s);
  const blocked = select?.find((p) => spec.notOnList?.has(p));
  if (blocked) throw new GraphError(501, 'NotImplemented', 'This operation target is not yet supported.');
  const filter = state.f !== undefined && state.f.trim() ? parseFilter(state.f) : undefined;
  let needsAdvanced = filter ? classifyFilter(filter, spec.filters, props) === 'advanced' : false;
  const order = parseOrderBy(state.o, props, spec.orderBy.defaults, spec.orderBy.advanced);
  if (order && (order.advanced || filter)) needsAdvanced = true;
  const search = state.q !== undefined ? parseSearch(state.q, props, spec.searchable) : undefined;
  const advanced = state.adv === true;
  if (needsAdvanced && !advanced) throw unsupportedQuery();
  const predicate = (rec: T): boolean => {
    const values = spec.values(rec);
    return (!filter || evaluate(filter, values)) && (!search || matchesSearch(search, values));
  };
  return { state, select, top: state.t ?? DEFAULT_PAGE_SIZE, advanced, count: state.c === true, predicate, filter, order };
}

function allMatches<T>(spec: ListSpec<T>, p: Prepared<T>): T[] {
  const indexed = p.filter && spec.byIndex?.(p.filter);
  if (indexed) return indexed.filter(p.predicate).sort((x, y) => spec.seq(x) - spec.seq(y));
  const out: T[] = [];
  spec.scan(0, (rec) => {
    if (p.predicate(rec)) out.push(rec);
    return true;
  });
  return out;
}

export function listEntities<T>(req: GraphRequest, spec: ListSpec<T>): GraphResponse {
  const p = prepare(req, spec, false);
  let items: T[];
  let next: PageState | undefined;
  let total: number | undefined;
  const indexed = !p.order && p.filter ? spec.byIndex?.(p.filter) : undefined;
  if (p.order || indexed || (p.count && p.advanced)) {
    let all = indexed ? indexed.filter(p.predicate).sort((x, y) => spec.seq(x) - spec.seq(y)) : allMatches(spec, p);
    total = all.length;
    if (p.order) {
      all = sortRecords(all, p.order.order, spec.values);
      const off = p.state.off ?? 0;
      items = all.slice(off, off + p.top);
      if (off + p.top < all.length) next = { ...p.state, off: off + p.top };
    } else {
      const rest = all.filter((r) => spec.seq(r) > p.state.a);
      items = rest.slice(0, p.top);
      if (rest.length > p.top) next = { ...p.state, a: spec.seq(items[items.length - 1]!) };
    }
  } else {
    items = [];
    let more = false;
    spec.scan(p.state.a, (rec) => {
      if (!p.predicate(rec)) return true;
      if (items.length === p.top) {
        more = true;
        return false;
      }
      items.push(rec);
      return true;
    });
    if (more) next = { ...p.state, a: spec.seq(items[items.length - 1]!) };
  }
  const body: Record<string, unknown> = { '@odata.context': contextUrl(req.origin, spec.contextSet ?? spec.schema.entitySet, p.select, false) };
  if (p.count && p.advanced && total !== undefined) body['@odata.count'] = total;
  if (next) body['@odata.nextLink'] = `${req.origin}/v1.0/${spec.path}?$skiptoken=${encodeToken(next)}`;
  body.value = items.map((rec) => {
    const out = project(spec.schema, spec.values(rec), p.select);
    return spec.decorate ? spec.decorate(rec, out) : out;
  });
  return json(200, body);
}

/** `/users/$count`: advanced-only, plain-text number. */
export function countEntities<T>(req: GraphRequest, spec: ListSpec<T>): GraphResponse {
  if (!isEventual(req)) throw badRequest('$count is not currently supported.');
  const p = prepare(req, spec, true);
  const n = allMatches(spec, p).length;
  return { status: 200, headers: { 'Content-Type': 'text/plain;charset=utf-8' }, text: String(n) };
}
