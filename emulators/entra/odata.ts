import { GraphError, badRequest } from './errors.js';

/**
 * Query-string decoding the way Graph does it: '+' is a space, then percent-decoding
 * (the SDK sends values raw; fetch turns spaces into %20 and quotes into %27).
 */
export function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    const key = decode(rawKey);
    // OData system options are case-insensitive ($skipToken, $SkipToken, $skiptoken).
    out.set(key.startsWith('$') ? key.toLowerCase() : key, decode(rawValue));
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new GraphError(400, 'BadRequest', 'The query specified in the URI is not valid.');
  }
}

export function parseTop(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 999) {
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and 999 inclusive.`);
  }
  return n;
}

export function parseCountFlag(raw: string | undefined): boolean {
  if (raw === undefined) return false;
  const v = raw.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new GraphError(400, 'BadRequest', `Invalid value '${raw}' for $count query option found. The $count query option requires a Boolean value.`);
}

// ---------------------------------------------------------------- $filter

export type Literal = string | number | boolean | null;
export type CmpOp = 'eq' | 'ne' | 'ge' | 'le' | 'gt' | 'lt';
export type Expr =
  | { k: 'and' | 'or'; a: Expr; b: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'cmp'; op: CmpOp; path: string[]; v: Literal }
  | { k: 'in'; path: string[]; vs: Literal[] }
  | { k: 'fn'; fn: 'startswith' | 'endswith'; path: string[]; v: string }
  | { k: 'any'; path: string[]; variable: string; body: Expr };

type Token = { t: '(' | ')' | ',' | ':' | '/' | 'eof' } | { t: 'str' | 'ident' | 'date'; v: string } | { t: 'num'; v: number };

const invalidFilter = (detail: string): GraphError =>
  new GraphError(400, 'BadRequest', `Invalid filter clause: ${detail}`);

function lex(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if ('(),:/'.includes(c)) {
      tokens.push({ t: c as '(' | ')' | ',' | ':' | '/' });
      i++;
    } else if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) throw invalidFilter('unterminated string literal.');
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += src[i];
        i++;
      }
      tokens.push({ t: 'str', v });
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9][0-9A-Za-z:.+-]*/.exec(src.slice(i));
      if (!m) throw invalidFilter(`syntax error at position ${i}.`);
      const text = m[0];
      i += text.length;
      if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(text)) tokens.push({ t: 'date', v: text });
      else if (/^-?\d+(\.\d+)?$/.test(text)) tokens.push({ t: 'num', v: Number(text) });
      else throw invalidFilter(`syntax error at position ${i}.`);
    } else if (/[A-Za-z_$@]/.test(c)) {
      const m = /^[A-Za-z_$@][A-Za-z0-9_.$@]*/.exec(src.slice(i))!;
      tokens.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw invalidFilter(`syntax error at position ${i} in '${src}'.`);
    }
  }
  tokens.push({ t: 'eof' });
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    this.pos++;
    return t;
  }
  private keyword(word: string): boolean {
    const t = this.peek();
    if (t.t === 'ident' && t.v.toLowerCase() === word) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expect(t: Token['t']): void {
    if (this.next().t !== t) throw invalidFilter(`expected '${t}'.`);
  }

  parse(): Expr {
    const e = this.or();
    if (this.peek().t !== 'eof') throw invalidFilter('syntax error: unexpected token.');
    return e;
  }

  private or(): Expr {
    let e = this.and();
    while (this.keyword('or')) e = { k: 'or', a: e, b: this.and() };
    return e;
  }
  private and(): Expr {
    let e = this.unary();
    while (this.keyword('and')) e = { k: 'and', a: e, b: this.unary() };
    return e;
  }
  private unary(): Expr {
    if (this.keyword('not')) return { k: 'not', e: this.unary() };
    return this.primary();
  }
  private primary(): Expr {
    const t = this.peek();
    if (t.t === '(') {
      this.next();
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (t.t === 'ident' && this.peek(1).t === '(') {
      const fn = t.v.toLowerCase();
      if (fn !== 'startswith' && fn !== 'endswith') throw invalidFilter(`unknown function '${t.v}'.`);
      this.pos += 2;
      const path = this.path();
      this.expect(',');
      const lit = this.literal();
      this.expect(')');
      if (typeof lit !== 'string') throw invalidFilter(`${t.v} requires a string argument.`);
      return { k: 'fn', fn, path, v: lit };
    }
    const path = this.path();
    const last = path[path.length - 1]?.toLowerCase();
    if ((last === 'any' || last === 'all') && this.peek().t === '(') {
      if (last === 'all') throw new GraphError(400, 'Request_UnsupportedQuery', "Unsupported Query. Lambda operator 'all' is not supported.");
      this.next();
      const v = this.next();
      if (v.t !== 'ident') throw invalidFilter('expected a lambda variable.');
      this.expect(':');
      const body = this.or();
      this.expect(')');
      return { k: 'any', path: path.slice(0, -1), variable: v.v, body };
    }
    const op = this.next();
    if (op.t !== 'ident') throw invalidFilter('expected an operator.');
    const word = op.v.toLowerCase();
    if (word === 'in') {
      this.expect('(');
      const vs: Literal[] = [this.literal()];
      while (this.peek().t === ',') {
        this.next();
        vs.push(this.literal());
      }
      this.expect(')');
      return { k: 'in', path, vs };
    }
    if (!['eq', 'ne', 'ge', 'le', 'gt', 'lt'].includes(word)) throw invalidFilter(`unknown operator '${op.v}'.`);
    return { k: 'cmp', op: word as CmpOp, path, v: this.literal() };
  }
  private path(): string[] {
    const first = this.next();
    if (first.t !== 'ident') throw invalidFilter('expected a property name.');
    const path = [first.v];
    while (this.peek().t === '/') {
      this.next();
      const seg = this.next();
      if (seg.t !== 'ident') throw invalidFilter('expected a property name.');
      path.push(seg.v);
    }
    return path;
  }
  private literal(): Literal {
    const t = this.next();
    switch (t.t) {
      case 'str':
      case 'date':
        return t.v;
      case 'num':
        return t.v;
      case 'ident': {
        const w = t.v.toLowerCase();
        if (w === 'true') return true;
        if (w === 'false') return false;
        if (w === 'null') return null;
        throw invalidFilter(`unexpected '${t.v}'.`);
      }
      default:
        throw invalidFilter('expected a literal.');
    }
  }
}

export function parseFilter(src: string): Expr {
  return new Parser(lex(src)).parse();
}

// ---------------------------------------------------------------- capability matrix

export type FilterOp = 'eq' | 'ne' | 'not' | 'ge' | 'le' | 'gt' | 'lt' | 'in' | 'startswith' | 'endswith' | 'null';
export interface Capability {
  /** Works without advanced query parameters. */
  d: readonly FilterOp[];
  /** Needs `ConsistencyLevel: eventual` + `$count=true`. */
  a: readonly FilterOp[];
}
export type CapabilityTable = Readonly<Record<string, Capability>>;

const STR: Capability = { d: ['eq', 'ge', 'le', 'in', 'startswith'], a: ['ne', 'not', 'endswith', 'null'] };
const STR_ADV: Capability = { d: [], a: ['eq', 'ne', 'not', 'ge', 'le', 'in', 'startswith', 'endswith', 'null'] };
const BOOL: Capability = { d: ['eq'], a: ['ne', 'not', 'in', 'null'] };
const DATE_ADV: Capability = { d: [], a: ['eq', 'ne', 'not', 'ge', 'le', 'in', 'null'] };
const ANY_STR: Capability = { d: ['eq', 'startswith'], a: ['not', 'endswith'] };

const extensionAttributes = Object.fromEntries(
  Array.from({ length: 15 }, (_, i) => [
    `onPremisesExtensionAttributes/extensionAttribute${i + 1}`,
    { d: [], a: ['eq', 'ne', 'not', 'in', 'null'] } satisfies Capability,
  ]),
);

/** Per-property support on /users (user resource "Supports $filter" notes + the advanced-query table). */
export const USER_FILTERS: CapabilityTable = {
  id: { d: ['eq', 'in'], a: ['ne', 'not', 'ge', 'le'] },
  userPrincipalName: STR,
  mail: STR,
  mailNickname: STR,
  displayName: STR,
  givenName: STR,
  surname: STR,
  jobTitle: STR,
  department: STR,
  employeeId: { d: ['eq', 'ge', 'in', 'startswith'], a: ['ne', 'not', 'le', 'null'] },
  accountEnabled: BOOL,
  userType: { d: ['eq', 'in'], a: ['ne', 'not', 'null'] },
  onPremisesSyncEnabled: BOOL,
  onPremisesImmutableId: { d: [], a: ['eq', 'ne', 'not', 'ge', 'le', 'in', 'null'] },
  ...extensionAttributes,
  employeeType: STR_ADV,
  companyName: STR_ADV,
  officeLocation: STR_ADV,
  mobilePhone: STR_ADV,
  city: STR_ADV,
  country: STR_ADV,
  state: STR_ADV,
  postalCode: STR_ADV,
  streetAddress: STR_ADV,
  usageLocation: STR_ADV,
  preferredLanguage: STR_ADV,
  faxNumber: STR_ADV,
  ageGroup: STR_ADV,
  onPremisesSamAccountName: STR_ADV,
  onPremisesUserPrincipalName: STR_ADV,
  'employeeOrgData/costCenter': STR_ADV,
  'employeeOrgData/division': STR_ADV,
  createdDateTime: DATE_ADV,
  lastPasswordChangeDateTime: DATE_ADV,
  employeeHireDate: { d: [], a: ['eq', 'ne', 'not', 'ge', 'le', 'gt', 'lt', 'in', 'null'] },
  proxyAddresses: ANY_STR,
  otherMails: ANY_STR,
  imAddresses: ANY_STR,
  businessPhones: { d: ['eq'], a: ['not'] },
  'identities/issuer': { d: ['eq'], a: [] },
  'identities/issuerAssignedId': { d: ['eq'], a: [] },
  'identities/signInType': { d: ['eq'], a: [] },
};

export const GROUP_FILTERS: CapabilityTable = {
  id: { d: ['eq', 'in'], a: ['ne', 'not'] },
  displayName: STR,
  mailNickname: STR,
  mail: STR,
  description: STR,
  securityEnabled: BOOL,
  mailEnabled: BOOL,
  onPremisesSyncEnabled: BOOL,
  createdDateTime: DATE_ADV,
  groupTypes: { d: ['eq'], a: ['not'] },
  proxyAddresses: ANY_STR,
};

export interface PropertyResolver {
  /** Canonical name of a top-level property, or undefined if the type has none. */
  canonical(name: string): string | undefined;
  typeName: string;
}

/**
 * Resolves property names (case-insensitively) in place and returns whether the filter
 * needs advanced query parameters. Throws Graph's errors for unknown properties,
 * non-indexed properties and unsupported operators.
 */
export function classifyFilter(expr: Expr, table: CapabilityTable, props: PropertyResolver): 'default' | 'advanced' {
  let advanced = false;
  const use = (path: string[], op: FilterOp): void => {
    const key = resolvePath(path, props);
    const cap = table[key];
    if (!cap) throw new GraphError(400, 'Request_UnsupportedQuery', 'The request uses a filter property that is not indexed');
    if (cap.d.includes(op)) return;
    if (cap.a.includes(op)) {
      advanced = true;
      return;
    }
    throw new GraphError(400, 'Request_UnsupportedQuery', 'Unsupported Query.');
  };
  const walk = (e: Expr, lambda?: { variable: string; base: string[] }): void => {
    const full = (path: string[]): string[] => {
      if (lambda && path[0] === lambda.variable) return [...lambda.base, ...path.slice(1)];
      if (lambda) throw invalidFilter(`'${path.join('/')}' is not the lambda variable.`);
      return path;
    };
    switch (e.k) {
      case 'and':
      case 'or':
        walk(e.a, lambda);
        walk(e.b, lambda);
        return;
      case 'not':
        advanced = true;
        walkNot(e.e, lambda);
        return;
      case 'cmp':
        use(full(e.path), e.v === null ? 'null' : e.op);
        if (e.v === null && e.op !== 'eq' && e.op !== 'ne') throw new GraphError(400, 'Request_UnsupportedQuery', 'Unsupported Query.');
        if (e.op === 'ne') advanced = true;
        return;
      case 'in':
        use(full(e.path), 'in');
        return;
      case 'fn':
        use(full(e.path), e.fn);
        return;
      case 'any':
        if (lambda) throw new GraphError(400, 'Request_UnsupportedQuery', 'Unsupported Query.');
        resolvePath(e.path, props);
        walk(e.body, { variable: e.variable, base: e.path });
        return;
    }
  };
  const walkNot = (e: Expr, lambda?: { variable: string; base: string[] }): void => {
    // Record 'not' against each property it negates.
    const visit = (x: Expr): void => {
      if (x.k === 'cmp' || x.k === 'in' || x.k === 'fn') {
        const path = lambda && x.path[0] === lambda.variable ? [...lambda.base, ...x.path.slice(1)] : x.path;
        use(path, 'not');
      } else if (x.k === 'and' || x.k === 'or') {
        visit(x.a);
        visit(x.b);
      } else if (x.k === 'not') visit(x.e);
      else if (x.k === 'any') use(x.path, 'not');
    };
    visit(e);
    walk(e, lambda);
  };
  walk(expr);
  return advanced ? 'advanced' : 'default';
}

/** Canonicalises path[0] in place (filters are case-insensitive on names) and returns the table key. */
function resolvePath(path: string[], props: PropertyResolver): string {
  const canonical = props.canonical(path[0]!);
  if (!canonical) {
    throw new GraphError(400, 'BadRequest', `Could not find a property named '${path[0]}' on type 'microsoft.graph.${props.typeName}'.`);
  }
  path[0] = canonical;
  return path.join('/');
}

// ---------------------------------------------------------------- evaluation

export function evaluate(expr: Expr, record: Readonly<Record<string, unknown>>): boolean {
  return evalExpr(expr, (path) => getPath(record, path));
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function evalExpr(e: Expr, get: (path: string[]) => unknown): boolean {
  switch (e.k) {
    case 'and':
      return evalExpr(e.a, get) && evalExpr(e.b, get);
    case 'or':
      return evalExpr(e.a, get) || evalExpr(e.b, get);
    case 'not':
      return !evalExpr(e.e, get);
    case 'cmp':
      return compare(get(e.path), e.op, e.v);
    case 'in':
      return e.vs.some((v) => compare(get(e.path), 'eq', v));
    case 'fn': {
      const value = get(e.path);
      if (typeof value !== 'string') return false;
      const a = value.toLowerCase();
      const b = e.v.toLowerCase();
      return e.fn === 'startswith' ? a.startsWith(b) : a.endsWith(b);
    }
    case 'any': {
      const items = get(e.path);
      if (!Array.isArray(items)) return false;
      return items.some((item) =>
        evalExpr(e.body, (path) => (path[0] === e.variable ? getPath(item, path.slice(1)) : get(path))),
      );
    }
  }
}

function compare(value: unknown, op: CmpOp, lit: Literal): boolean {
  if (lit === null) {
    const isNull = value === undefined || value === null;
    return op === 'eq' ? isNull : !isNull;
  }
  if (value === undefined || value === null) return op === 'ne';
  let c: number;
  if (typeof lit === 'boolean' || typeof value === 'boolean') {
    if (op !== 'eq' && op !== 'ne') return false;
    c = value === lit ? 0 : 1;
  } else if (typeof lit === 'number' && typeof value === 'number') {
    c = value - lit;
  } else {
    const a = String(value);
    const b = String(lit);
    const da = Date.parse(a);
    const db = Date.parse(b);
    // Dates compare as instants; everything else case-insensitively, as the directory does.
    if (/^\d{4}-\d{2}-\d{2}/.test(b) && !Number.isNaN(da) && !Number.isNaN(db)) c = da - db;
    else {
      const la = a.toLowerCase();
      const lb = b.toLowerCase();
      c = la < lb ? -1 : la > lb ? 1 : 0;
    }
  }
  switch (op) {
    case 'eq':
      return c === 0;
    case 'ne':
      return c !== 0;
    case 'ge':
      return c >= 0;
    case 'le':
      return c <= 0;
    case 'gt':
      return c > 0;
    case 'lt':
      return c < 0;
  }
}

/** Values of a top-level `prop eq 'x' [or prop eq 'y']` / `prop in (...)`, for index lookups. */
export function equalityValues(expr: Expr, prop: string): string[] | undefined {
  switch (expr.k) {
    case 'cmp':
      return expr.op === 'eq' && expr.path.length === 1 && expr.path[0] === prop && typeof expr.v === 'string' ? [expr.v] : undefined;
    case 'in':
      return expr.path.length === 1 && expr.path[0] === prop && expr.vs.every((v) => typeof v === 'string')
        ? (expr.vs as string[])
        : undefined;
    case 'or': {
      const a = equalityValues(expr.a, prop);
      const b = a && equalityValues(expr.b, prop);
      return a && b ? [...a, ...b] : undefined;
    }
    case 'and':
      return equalityValues(expr.a, prop) ?? equalityValues(expr.b, prop);
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- $orderby and $search

export interface OrderBy {
  prop: string;
  desc: boolean;
}

export function parseOrderBy(raw: string | undefined, props: PropertyResolver, defaults: readonly string[], advanced: readonly string[]): { order: OrderBy; advanced: boolean } | undefined {
  if (raw === undefined || !raw.trim()) return undefined;
  const parts = raw.trim().split(/\s+/);
  if (parts.length > 2 || raw.includes(',')) throw new GraphError(400, 'Request_UnsupportedQuery', 'Sorting on multiple properties is not supported.');
  const prop = props.canonical(parts[0]!);
  if (!prop) throw new GraphError(400, 'BadRequest', `Could not find a property named '${parts[0]}' on type 'microsoft.graph.${props.typeName}'.`);
  const dir = (parts[1] ?? 'asc').toLowerCase();
  if (dir !== 'asc' && dir !== 'desc') throw new GraphError(400, 'BadRequest', `Invalid $orderby direction '${parts[1]}'.`);
  if (defaults.includes(prop)) return { order: { prop, desc: dir === 'desc' }, advanced: false };
  if (advanced.includes(prop)) return { order: { prop, desc: dir === 'desc' }, advanced: true };
  throw new GraphError(400, 'Request_UnsupportedQuery', 'Sorting not supported for current query.');
}

export function sortRecords<T>(items: T[], order: OrderBy, get: (item: T) => Readonly<Record<string, unknown>>): T[] {
  const key = (item: T): string => {
    const v = get(item)[order.prop];
    return v === undefined || v === null ? '' : String(v).toLowerCase();
  };
  const sign = order.desc ? -1 : 1;
  return items
    .map((item) => ({ item, k: key(item) }))
    .sort((x, y) => (x.k < y.k ? -sign : x.k > y.k ? sign : 0))
    .map((x) => x.item);
}

export interface SearchClause {
  prop: string;
  term: string;
}

/** `$search="displayName:ad" AND "mail:x"`: tokenised prefix match, as directory search does. */
export function parseSearch(raw: string, props: PropertyResolver, searchable: readonly string[]): { clauses: SearchClause[]; any: boolean } {
  const clauses: SearchClause[] = [];
  const re = /"([^":]+):([^"]*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(raw)) !== null) {
    const prop = props.canonical(m[1]!.trim());
    if (!prop || !searchable.includes(prop)) {
      throw new GraphError(400, 'Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified for property '${m[1]}' of resource '${props.typeName}'.`);
    }
    clauses.push({ prop, term: m[2]!.toLowerCase() });
  }
  if (!clauses.length) throw new GraphError(400, 'BadRequest', 'Syntax error: character \'"\' is not valid in the $search query.');
  return { clauses, any: / OR /i.test(raw) };
}

export function matchesSearch(search: { clauses: SearchClause[]; any: boolean }, record: Readonly<Record<string, unknown>>): boolean {
  const hit = (c: SearchClause): boolean => {
    const v = record[c.prop];
    if (typeof v !== 'string') return false;
    const lower = v.toLowerCase();
    return lower.startsWith(c.term) || lower.split(/[^a-z0-9]+/).some((w) => w.startsWith(c.term));
  };
  return search.any ? search.clauses.some(hit) : search.clauses.every(hit);
}
