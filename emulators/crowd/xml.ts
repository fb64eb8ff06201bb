// Minimal XML writing for JAXB-shaped output, and parsing of request bodies. Output is
// built as strings: the shapes are fixed, and this is on the hot path of every XML reply.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const XML_PROLOG = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';

// Characters XML 1.0 cannot carry at all; Crowd strips them from messages too.
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

export function esc(value: string): string {
  return value
    .replace(INVALID_XML_CHARS, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

export type XmlAttrs = Record<string, string | undefined>;

/** One element; `undefined` content renders an empty element, strings are pre-rendered children. */
export function el(tag: string, attrs: XmlAttrs | null, ...children: (string | undefined)[]): string {
  let open = `<${tag}`;
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) open += ` ${k}="${esc(v)}"`;
  }
  const body = children.filter((c) => c !== undefined).join('');
  return body === '' ? `${open}/>` : `${open}>${body}</${tag}>`;
}

/** A text-only element, omitted when the value is null (JAXB skips null fields). */
export function textEl(tag: string, value: string | number | boolean | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const s = String(value);
  return s === '' ? `<${tag}/>` : `<${tag}>${esc(s)}</${tag}>`;
}

// Elements that may repeat (child → wrapper) in the request shapes we accept; all else is single.
const REPEATABLE = new Map([
  ['attribute', 'attributes'],
  ['value', 'values'],
  ['boolean-search-restriction', 'restrictions'],
  ['property-search-restriction', 'restrictions'],
  ['null-search-restriction', 'restrictions'],
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  isArray: (name, jpath) => {
    const wrapper = REPEATABLE.get(name);
    return wrapper !== undefined && String(jpath).endsWith(`${wrapper}.${name}`);
  },
});

export type XmlNode = Record<string, unknown>;

/** Parses a document and returns its root element name and content, or throws with a parser message. */
export function parseXml(text: string): { root: string; node: XmlNode } {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(`${valid.err.code}: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(text) as XmlNode;
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?') && !k.startsWith('#'));
  const root = roots[0];
  if (root === undefined) throw new Error('Premature end of file.');
  const content = doc[root];
  return { root, node: typeof content === 'object' && content !== null ? (content as XmlNode) : { '#text': content } };
}

/** Text content of an element parsed by parseXml (elements with attributes keep text in #text). */
export function xmlText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const t = (value as XmlNode)['#text'];
    return t === undefined ? '' : String(t);
  }
  return String(value);
}
