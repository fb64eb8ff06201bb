/**
 * Server-rendered HTML. Every value goes through `esc` (or `attr`), so a user name, an error
 * text or a job reason taken from a remote directory can never become markup.
 */

export const esc = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Markup already built from escaped parts; `html` leaves it as it is. */
export class Raw {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A tagged template escaping every interpolation except `Raw` (and arrays of them). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Raw(out);
}

function render(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  return esc(v);
}

/** A link with query parameters, empty ones left out. */
export function href(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

const NAV: [string, string][] = [['/', 'Status'], ['/failed', 'Failed jobs'], ['/audit', 'Audit'], ['/trace', 'Trace'], ['/plans', 'Plans'], ['/matches', 'Matches'], ['/queues', 'Queues']];

// Inline styles would need 'unsafe-inline' in the CSP; one stylesheet served from /dashboard.css does not.
export const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#cfd8ea;text-decoration:none}header a.on{color:#fff;font-weight:600}
header form{margin-left:auto}main{padding:1rem 1.5rem;max-width:1300px}
table{border-collapse:collapse;background:#fff;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #dde1e8;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
form.filters{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end;margin:.5rem 0}
label{display:flex;flex-direction:column;font-size:12px;color:#555}
input,select,button{font:inherit;padding:.25rem .4rem}
button{cursor:pointer;border:1px solid #8a94a6;border-radius:3px;background:#fff}
button.primary{background:#2456c7;color:#fff;border-color:#2456c7}button.danger{color:#b3261e}
.flash{padding:.5rem .8rem;background:#e7f3e8;border:1px solid #9ccc9f;margin:.5rem 0}
.error{padding:.5rem .8rem;background:#fdecea;border:1px solid #e6a19b;margin:.5rem 0}
.muted{color:#6b7280}pre{white-space:pre-wrap;background:#fff;border:1px solid #dde1e8;padding:.5rem}
.ok{color:#1b7a32}.bad{color:#b3261e}form.inline{display:inline}
`;

export interface PageInput {
  title: string;
  /** The nav entry to highlight. */
  path: string;
  body: Raw;
  /** Null on the login page: no navigation, no logout form. */
  csrf: string | null;
  flash?: string | undefined;
}

export function page({ title, path, body, csrf, flash }: PageInput): string {
  const nav = csrf === null ? '' : html`<nav>${NAV.map(([p, label]) => html`<a href="${p}"${new Raw(p === path ? ' class="on"' : '')}>${label}</a> `)}</nav>
<form method="post" action="/logout">${csrfField(csrf)}<button type="submit">Log out</button></form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · idsync</title><link rel="stylesheet" href="/dashboard.css"></head>
<body><header><strong>idsync</strong>${nav}</header>
<main><h1>${esc(title)}</h1>${flash ? html`<div class="flash" role="status">${flash}</div>` : ''}${body}</main></body></html>`;
}

export const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}">`;

/** A POST button carrying the CSRF token, with extra hidden fields. */
export function postButton(action: string, label: string, csrf: string, fields: Record<string, string> = {}, cls = ''): Raw {
  return html`<form class="inline" method="post" action="${action}">${csrfField(csrf)}${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit" class="${cls}">${label}</button></form>`;
}

export function table(headers: readonly string[], rows: readonly (readonly unknown[])[], empty = 'Nothing here.'): Raw {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<table><thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map((r) => html`<tr>${r.map((c) => (typeof c === 'number' ? html`<td class="n">${c}</td>` : html`<td>${c}</td>`))}</tr>`)}</tbody></table>`;
}

export const time = (ms: number | string | undefined): string => (ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
