// POST /search bodies: JSON with the `restriction-type` discriminator, or the JAXB XML
// elements (reference §6.3, S2 SearchRestrictionEntityTranslator).
import type { RequestContext } from './context.js';
import { parseRestrictionDate } from './dates.js';
import { illegalArgument, malformedBody } from './errors.js';
import { checkJsonFields, jsonString, readBody } from './input.js';
import { MATCH_MODES, type MatchMode, type PropertyType, type Restriction } from './restriction.js';
import { type XmlNode, xmlText } from './xml.js';

const TYPES: readonly PropertyType[] = ['STRING', 'BOOLEAN', 'DATE'];

function property(name: string | null, typeRaw: string | null, modeRaw: string | null, value: string | null): Restriction {
  if (name === null || name === '') throw illegalArgument('Property name must be given');
  const type = (typeRaw ?? '').toUpperCase() as PropertyType;
  if (!TYPES.includes(type)) throw illegalArgument(`No enum constant ...SupportedType.${typeRaw ?? 'null'}`);
  const mode = (modeRaw ?? '').toUpperCase() as MatchMode;
  if (!MATCH_MODES.includes(mode)) throw illegalArgument(`No enum constant ...MatchMode.${modeRaw ?? 'null'}`);
  if (mode === 'NULL') return { kind: 'property', property: name, type, mode, value: null };
  if (value === null) throw illegalArgument(`A value is required for match mode ${mode}`);
  const parsed = type === 'BOOLEAN' ? value.toLowerCase() === 'true' : type === 'DATE' ? parseRestrictionDate(value) : value;
  return { kind: 'property', property: name, type, mode, value: parsed };
}

function logic(raw: string | null): 'and' | 'or' {
  const l = (raw ?? '').toLowerCase();
  if (l !== 'and' && l !== 'or') throw illegalArgument(`No enum constant ...BooleanLogic.${raw ?? 'null'}`);
  return l;
}

const FIELDS: Record<string, Set<string>> = {
  'null-search-restriction': new Set(['restriction-type']),
  'property-search-restriction': new Set(['restriction-type', 'property', 'match-mode', 'value']),
  'boolean-search-restriction': new Set(['restriction-type', 'boolean-logic', 'restrictions']),
};

function fromJson(value: unknown): Restriction {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformedBody('Can not deserialize SearchRestrictionEntity out of non-object token');
  }
  const v = value as Record<string, unknown>;
  const kind = v['restriction-type'];
  if (typeof kind !== 'string' || !Object.hasOwn(FIELDS, kind)) {
    throw malformedBody(`Could not resolve type id '${String(kind)}' into a subtype of SearchRestrictionEntity`);
  }
  checkJsonFields(v, FIELDS[kind] as Set<string>, 'SearchRestrictionEntity');
  if (kind === 'null-search-restriction') return { kind: 'null' };
  if (kind === 'boolean-search-restriction') {
    const list = v['restrictions'];
    if (list !== undefined && list !== null && !Array.isArray(list)) throw malformedBody('restrictions must be an array');
    return { kind: 'boolean', logic: logic(jsonString(v['boolean-logic'], 'boolean-logic') ?? null), restrictions: (list ?? []).map(fromJson) };
  }
  const prop = (v['property'] ?? {}) as Record<string, unknown>;
  checkJsonFields(prop, new Set(['name', 'type']), 'PropertyEntity');
  return property(
    jsonString(prop['name'], 'name') ?? null,
    jsonString(prop['type'], 'type') ?? null,
    jsonString(v['match-mode'], 'match-mode') ?? null,
    jsonString(v['value'], 'value') ?? null,
  );
}

function fromXml(root: string, node: XmlNode): Restriction {
  if (root === 'null-search-restriction') return { kind: 'null' };
  if (root === 'property-search-restriction') {
    const prop = (node['property'] ?? {}) as XmlNode;
    return property(
      xmlText(prop['name']) ?? null,
      xmlText(prop['type']) ?? null,
      xmlText(node['match-mode']) ?? null,
      xmlText(node['value']) ?? null,
    );
  }
  if (root === 'boolean-search-restriction') {
    const children: Restriction[] = [];
    const wrapper = node['restrictions'];
    if (typeof wrapper === 'object' && wrapper !== null) {
      for (const [tag, items] of Object.entries(wrapper as XmlNode)) {
        if (!Array.isArray(items)) continue;
        for (const item of items) children.push(fromXml(tag, typeof item === 'object' && item !== null ? (item as XmlNode) : {}));
      }
    }
    return { kind: 'boolean', logic: logic(node['@boolean-logic'] === undefined ? null : String(node['@boolean-logic'])), restrictions: children };
  }
  throw malformedBody(`javax.xml.bind.UnmarshalException: unexpected element (uri:"", local:"${root}")`);
}

export function readRestriction(ctx: RequestContext): Restriction {
  const parsed = readBody(ctx);
  return parsed.format === 'json' ? fromJson(parsed.value) : fromXml(parsed.root, parsed.node);
}
