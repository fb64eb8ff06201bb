// Crowd Query Language (reference §6.2): `prop = value`, `prop < value`, `prop > value`,
// combined with `and`/`or` (any case; `and` binds tighter) and parentheses. `*` at either end
// of an `=` value selects STARTS_WITH / ENDS_WITH / CONTAINS. Values may be bare or quoted.
// There is no `!=`, `>=`, `<=` or `not` (CWD-5699); those are syntax errors here too.
import { parseCqlDate } from './dates.js';
import { illegalArgument } from './errors.js';
import { type EntityType, type MatchMode, type Restriction, propertyType } from './restriction.js';

type Token =
  | { t: 'lparen'; at: number }
  | { t: 'rparen'; at: number }
  | { t: 'op'; v: '=' | '<' | '>'; at: number }
  | { t: 'word'; v: string; at: number }
  | { t: 'string'; v: string; at: number };

const fail = (cql: string, at: number, why: string): never => {
  throw illegalArgument(`Invalid restriction "${cql}": ${why} at position ${at}`);
};

function tokenize(cql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < cql.length) {
    const c = cql[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      out.push({ t: 'lparen', at: i++ });
    } else if (c === ')') {
      out.push({ t: 'rparen', at: i++ });
    } else if (c === '!' || ((c === '<' || c === '>') && cql[i + 1] === '=')) {
      fail(cql, i, 'unsupported operator');
    } else if (c === '=' || c === '<' || c === '>') {
      out.push({ t: 'op', v: c, at: i++ });
    } else if (c === '"' || c === "'") {
      const start = i++;
      let v = '';
      while (i < cql.length && cql[i] !== c) {
        if (cql[i] === '\\' && i + 1 < cql.length) i++;
        v += cql[i++];
      }
      if (i >= cql.length) fail(cql, start, 'unterminated quoted value');
      i++;
      out.push({ t: 'string', v, at: start });
    } else {
      const start = i;
      while (i < cql.length && !/[\s()=<>!"']/.test(cql[i] as string)) i++;
      out.push({ t: 'word', v: cql.slice(start, i), at: start });
    }
  }
  return out;
}

function term(entity: EntityType, property: string, op: '=' | '<' | '>', raw: string): Restriction {
  const type = propertyType(entity, property);
  let mode: MatchMode = op === '<' ? 'LESS_THAN' : op === '>' ? 'GREATER_THAN' : 'EXACTLY_MATCHES';
  let value = raw;
  if (op === '=' && type === 'STRING') {
    const lead = value.startsWith('*');
    const trail = value.length > (lead ? 1 : 0) && value.endsWith('*');
    if (lead && trail) mode = 'CONTAINS';
    else if (lead) mode = 'ENDS_WITH';
    else if (trail) mode = 'STARTS_WITH';
    value = value.slice(lead ? 1 : 0, trail ? -1 : undefined);
  }
  if (type === 'DATE') return { kind: 'property', property, type, mode, value: parseCqlDate(value) };
  if (type === 'BOOLEAN') {
    if (op !== '=') throw illegalArgument(`Operator ${op} is not supported for boolean property ${property}`);
    return { kind: 'property', property, type, mode, value: value.toLowerCase() === 'true' };
  }
  return { kind: 'property', property, type, mode, value };
}

/** Parses a CQL restriction; blank input means "everything". Errors are 400 ILLEGAL_ARGUMENT. */
export function parseCql(cql: string, entity: EntityType): Restriction {
  if (cql.trim() === '') return { kind: 'null' };
  const tokens = tokenize(cql);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const atEnd = (): number => cql.length;

  const keyword = (word: string): boolean => {
    const tok = peek();
    return tok?.t === 'word' && tok.v.toLowerCase() === word;
  };

  const primary = (): Restriction => {
    const tok = peek();
    if (tok === undefined) return fail(cql, atEnd(), 'unexpected end of restriction');
    if (tok.t === 'lparen') {
      pos++;
      const inner = orExpr();
      const close = peek();
      if (close?.t !== 'rparen') return fail(cql, close?.at ?? atEnd(), 'expected ")"');
      pos++;
      return inner;
    }
    if (tok.t !== 'word' && tok.t !== 'string') return fail(cql, tok.at, 'expected a property name');
    if (tok.t === 'word' && (tok.v.toLowerCase() === 'and' || tok.v.toLowerCase() === 'or' || tok.v.toLowerCase() === 'not')) {
      return fail(cql, tok.at, `unexpected "${tok.v}"`);
    }
    pos++;
    const op = peek();
    if (op?.t !== 'op') return fail(cql, op?.at ?? atEnd(), 'expected one of =, <, >');
    pos++;
    const val = peek();
    if (val?.t !== 'word' && val?.t !== 'string') return fail(cql, val?.at ?? atEnd(), 'expected a value');
    pos++;
    return term(entity, tok.v, op.v, val.v);
  };

  const andExpr = (): Restriction => {
    const parts = [primary()];
    while (keyword('and')) {
      pos++;
      parts.push(primary());
    }
    return parts.length === 1 ? (parts[0] as Restriction) : { kind: 'boolean', logic: 'and', restrictions: parts };
  };

  const orExpr = (): Restriction => {
    const parts = [andExpr()];
    while (keyword('or')) {
      pos++;
      parts.push(andExpr());
    }
    return parts.length === 1 ? (parts[0] as Restriction) : { kind: 'boolean', logic: 'or', restrictions: parts };
  };

  const result = orExpr();
  const rest = peek();
  if (rest !== undefined) fail(cql, rest.at, 'unexpected input');
  return result;
}
