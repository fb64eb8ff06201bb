// Request bodies → plain inputs. JSON follows Jackson 1.x with JAXB annotations (unknown
// properties are refused, scalars are coerced to strings, "true"/"false" to booleans); XML
// follows JAXB (unknown elements ignored, `name` is an attribute). Malformed bodies give the
// bare text/plain 400 that Crowd's JsonMappingExceptionMapper sends.
import type { RequestContext } from './context.js';
import { RawHttpError, malformedBody } from './errors.js';
import { bodyFormat } from './negotiation.js';
import { type XmlNode, parseXml, xmlText } from './xml.js';

export type Parsed = { format: 'json'; value: Record<string, unknown> } | { format: 'xml'; root: string; node: XmlNode };

const ENTITY_CLASS = 'com.atlassian.crowd.plugin.rest.entity.';

export function readBody(ctx: RequestContext): Parsed {
  const format = bodyFormat(ctx.contentType);
  if (format === null) throw new RawHttpError(415);
  const text = ctx.body.toString('utf8');
  if (format === 'json') {
    if (text.trim() === '') throw malformedBody('No content to map to Object due to end of input');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw malformedBody(`Unexpected character: ${(e as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw malformedBody('Can not deserialize instance out of non-object token');
    }
    return { format, value: value as Record<string, unknown> };
  }
  if (text.trim() === '') throw malformedBody('Premature end of file.');
  try {
    return { format, ...parseXml(text) };
  } catch (e) {
    throw malformedBody(`javax.xml.bind.UnmarshalException: ${(e as Error).message}`);
  }
}

export function checkJsonFields(value: Record<string, unknown>, allowed: ReadonlySet<string>, entity: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw malformedBody(`Unrecognized field "${key}" (Class ${ENTITY_CLASS}${entity}), not marked as ignorable`);
    }
  }
}

export function expectRoot(parsed: { root: string }, ...roots: string[]): void {
  if (!roots.includes(parsed.root)) {
    throw malformedBody(
      `javax.xml.bind.UnmarshalException: unexpected element (uri:"", local:"${parsed.root}"). Expected elements are ${roots.map((r) => `<{}${r}>`).join(',')}`,
    );
  }
}

/** Jackson's String coercion: strings and numbers/booleans become text, null stays null. */
export function jsonString(value: unknown, field: string): string | null | undefined {
  if (value === undefined || value === null) return value as null | undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw malformedBody(`Can not deserialize instance of java.lang.String out of START_OBJECT token (field "${field}")`);
}

export function jsonBoolean(value: unknown, field: string): boolean | null | undefined {
  if (value === undefined || value === null) return value as null | undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw malformedBody(`Can not construct instance of java.lang.Boolean from String value '${String(value)}' (field "${field}")`);
}

/** JAXB reads an empty or unrecognised boolean element as absent. */
export function xmlBoolean(value: unknown): boolean | null | undefined {
  const t = xmlText(value);
  if (t === undefined) return undefined;
  const s = t.trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  return null;
}

export type AttributeInput = [name: string, values: string[]];

const ATTRIBUTE_LIST_FIELDS = new Set(['attributes', 'link']);
const ATTRIBUTE_FIELDS = new Set(['name', 'values', 'link']);

/** `{"attributes":[{"name","values"}]}` / `<attributes><attribute name><values><value>`. */
export function attributesFromJson(value: unknown): AttributeInput[] | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw malformedBody('Can not deserialize attributes out of non-object token');
  const obj = value as Record<string, unknown>;
  checkJsonFields(obj, ATTRIBUTE_LIST_FIELDS, 'MultiValuedAttributeEntityList');
  const list = obj['attributes'];
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw malformedBody('Can not deserialize instance of java.util.ArrayList out of non-array token');
  return list.map((item) => {
    if (typeof item !== 'object' || item === null) throw malformedBody('Can not deserialize attribute out of non-object token');
    const a = item as Record<string, unknown>;
    checkJsonFields(a, ATTRIBUTE_FIELDS, 'MultiValuedAttributeEntity');
    const name = jsonString(a['name'], 'name') ?? '';
    const raw = a['values'];
    const values = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
    return [name, values.map((v) => jsonString(v, 'values') ?? '')];
  });
}

export function attributesFromXml(node: unknown): AttributeInput[] | null {
  if (node === undefined) return null;
  if (typeof node !== 'object' || node === null) return [];
  const items = ((node as XmlNode)['attribute'] as XmlNode[] | undefined) ?? [];
  return items.map((a) => {
    const values = (((a['values'] as XmlNode | undefined)?.['value'] as unknown[] | undefined) ?? []).map(
      (v) => xmlText(v) ?? '',
    );
    return [String(a['@name'] ?? ''), values];
  });
}

/** Reads the body of `POST /user/attribute` or `/group/attribute`. */
export function readAttributes(ctx: RequestContext): AttributeInput[] {
  const parsed = readBody(ctx);
  if (parsed.format === 'json') return attributesFromJson(parsed.value) ?? [];
  expectRoot(parsed, 'attributes');
  return attributesFromXml(parsed.node) ?? [];
}

const PASSWORD_FIELDS = new Set(['value', 'link']);

/** `{"value":"pw"}` / `<password><value>pw</value></password>`. */
export function readPassword(ctx: RequestContext): string | null {
  const parsed = readBody(ctx);
  if (parsed.format === 'json') {
    checkJsonFields(parsed.value, PASSWORD_FIELDS, 'PasswordEntity');
    return jsonString(parsed.value['value'], 'value') ?? null;
  }
  expectRoot(parsed, 'password');
  return xmlText(parsed.node['value']) ?? null;
}

export function passwordFromJson(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw malformedBody('Can not deserialize password out of non-object token');
  checkJsonFields(value as Record<string, unknown>, PASSWORD_FIELDS, 'PasswordEntity');
  return jsonString((value as Record<string, unknown>)['value'], 'value') ?? null;
}

const RENAME_FIELDS = new Set(['new-name']);

/** `{"new-name":"x"}` / `<rename><new-name>x</new-name></rename>`. */
export function readRename(ctx: RequestContext): string | null {
  const parsed = readBody(ctx);
  if (parsed.format === 'json') {
    checkJsonFields(parsed.value, RENAME_FIELDS, 'RenameEntity');
    return jsonString(parsed.value['new-name'], 'new-name') ?? null;
  }
  expectRoot(parsed, 'rename');
  return xmlText(parsed.node['new-name']) ?? null;
}
