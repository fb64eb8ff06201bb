// JAX-RS content negotiation for resources annotated @Produces({application/xml, application/json}):
// the highest-q match wins, then the more specific range, then the server's order (XML first),
// which is why a request without Accept (or with */*) gets XML.

export type Format = 'json' | 'xml';

const MEDIA: Record<Format, [string, string]> = { xml: ['application', 'xml'], json: ['application', 'json'] };

interface Range {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): Range[] {
  const out: Range[] = [];
  for (const part of header.split(',')) {
    const [mediaRaw, ...params] = part.split(';');
    const media = (mediaRaw ?? '').trim().toLowerCase();
    if (!media) continue;
    const slash = media.indexOf('/');
    const type = slash < 0 ? media : media.slice(0, slash);
    const subtype = slash < 0 ? '*' : media.slice(slash + 1);
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim().toLowerCase() === 'q' && v !== undefined) {
        const n = Number(v.trim());
        q = Number.isFinite(n) ? n : 1;
      }
    }
    out.push({ type, subtype, q });
  }
  return out;
}

const cache = new Map<string, Format | null>();

/** The response format for an Accept header, or null when nothing we produce is acceptable (406). */
export function negotiate(accept: string | undefined, produces: readonly Format[] = ['xml', 'json']): Format | null {
  if (accept === undefined || accept.trim() === '') return produces[0] ?? null;
  const cacheKey = `${produces.join(',')}|${accept}`;
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  const ranges = parseAccept(accept);
  let best: Format | null = null;
  let bestQ = 0;
  let bestSpec = 0;
  for (const format of produces) {
    const [type, subtype] = MEDIA[format];
    let q = -1;
    let spec = 0;
    for (const r of ranges) {
      const s =
        r.type === type && r.subtype === subtype ? 3 : r.type === type && r.subtype === '*' ? 2 : r.type === '*' ? 1 : 0;
      if (s > spec) {
        spec = s;
        q = r.q;
      }
    }
    if (spec === 0 || q <= 0) continue;
    if (best === null || q > bestQ || (q === bestQ && spec > bestSpec)) {
      best = format;
      bestQ = q;
      bestSpec = spec;
    }
  }
  if (cache.size > 256) cache.clear();
  cache.set(cacheKey, best);
  return best;
}

/** The body format named by a request Content-Type, or null when unsupported (415). */
export function bodyFormat(contentType: string | undefined): Format | null {
  if (!contentType) return null;
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) return 'json';
  if (media === 'application/xml' || media === 'text/xml' || media.endsWith('+xml')) return 'xml';
  return null;
}
