import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EXPORT_FORMATS, exportAudit, type ExportFormat } from '../../operators/audit-export.js';
import { AuditInputError, parseAuditFilters, searchAudit, type AuditFilterInput } from '../../operators/audit-query.js';
import { ERROR_CLASSES } from '../../operators/failed-classify.js';
import { showFailed } from '../../operators/failed-show.js';
import { OPERATOR_QUEUES } from '../../operators/operator-queues.js';
import { JOB_STATES } from '../../operators/status.js';
import { formatTrace } from '../../operators/trace-format.js';
import { traceUser } from '../../operators/trace.js';
import { AUDIT_STATUSES, AuditLog, type StoredAuditEntry } from '../../shared/audit.js';
import { field, fields, sessionOf, type DashboardContext } from './context.js';
import { describeReplay, failed, failedQuery, replay, status } from './data.js';
import { href, html, page, postButton, table, time, type Raw } from './html.js';

/** Status, failed jobs, audit and trace pages. */
export function registerOpsPages(app: FastifyInstance, ctx: DashboardContext): void {
  const render = async (request: FastifyRequest, reply: FastifyReply, title: string, path: string, body: Raw) => {
    const session = sessionOf(request);
    const flash = await ctx.sessions.takeFlash(session.id);
    return reply.type('text/html').send(page({ title, path, body, csrf: session.csrf, flash }));
  };

  app.get('/', async (request, reply) => {
    const s = await status(ctx);
    const queues = Object.entries(s.queues);
    const body = html`<p class="muted">As of ${time(s.at)}.</p>
<h2>Queues</h2>${table(['queue', ...JOB_STATES, 'paused?'], queues.map(([name, q]) => [name, ...JOB_STATES.map((st) => q.counts[st]), q.isPaused ? 'paused' : '']))}
<h2>Throughput (last ${s.throughput.windowSeconds} s)</h2>${table(['queue', 'completed', 'failed'], [...Object.entries(s.throughput.perQueue).map(([q, t]) => [q, t.completed, t.failed]), ['all', s.throughput.completed, s.throughput.failed]])}
<h2>Failures by class</h2>${table(['class', 'jobs'], Object.entries(s.failuresByClass.counts).map(([k, n]) => [html`<a href="${href('/failed', { errorClass: k })}">${k}</a>`, n]))}
<p class="muted">${s.failuresByClass.scanned} of ${s.failuresByClass.total} failed jobs classified.</p>
<h2>Quarantines</h2>${table(['side', 'since', 'reason'], s.quarantined.map((q) => [q.target, time(q.since), q.reason]), 'No target is quarantined.')}
<h2>Next scheduled runs</h2>${table(['schedule', 'at'], s.nextSlots.map((n) => [n.name, time(n.at)]), 'No schedule configured.')}`;
    return render(request, reply, 'Status', '/', body);
  });

  app.get('/failed', async (request, reply) => {
    const q = failedQuery(request.query);
    const rows = q.errors.length ? [] : await failed(ctx, q.filter);
    const { csrf } = sessionOf(request);
    const refs = rows.map((r) => `${r.queue}/${r.jobId}`);
    const body = html`<form class="filters" method="get" action="/failed">
${select('queue', q.input.queue, OPERATOR_QUEUES)}<label>target<input name="target" value="${q.input.target ?? ''}" size="8"></label>
${select('errorClass', q.input.errorClass, ERROR_CLASSES)}<label>since<input name="since" value="${q.input.since ?? ''}" placeholder="2024-05-01T08:00:00Z"></label>
<label>limit<input name="limit" value="${q.input.limit ?? ''}" size="4" placeholder="100"></label><button type="submit">Filter</button></form>
${q.errors.map((e) => html`<p class="error">${e}</p>`)}
${table(['failed at', 'job', 'name', 'target', 'user', 'class', 'attempts', 'reason', ''], rows.map((r, i) => [
  time(r.failedAt), html`<a href="${href('/failed/job', { id: refs[i] })}">${refs[i]}</a>`, r.name, r.target,
  r.userId ? html`<a href="${href('/trace', { user: r.userId })}">${r.userId}</a>` : '', r.errorClass, r.attempts, r.reason,
  postButton('/failed/replay', 'Replay', csrf, { jobId: refs[i]!, back: request.url }),
]), 'No failed jobs match.')}
${rows.length ? html`<form method="post" action="/failed/replay"><input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="back" value="${request.url}">${refs.map((ref) => html`<input type="hidden" name="jobId" value="${ref}">`)}<button type="submit" class="primary">Replay all ${rows.length} shown</button></form>` : ''}`;
    return render(request, reply, 'Failed jobs', '/failed', body);
  });

  app.get('/failed/job', async (request, reply) => {
    const id = field(request.query, 'id') ?? '';
    let body: Raw;
    try {
      const d = await showFailed({ redis: ctx.redis, prefix: ctx.prefix, jobId: id });
      body = html`${table(['queue', 'name', 'state', 'user', 'class', 'attempts', 'created', 'failed at'], [[d.queue, d.name, d.state, d.userId ?? '', d.errorClass ?? '', `${d.attemptsStarted}/${d.maxAttempts}`, time(d.createdAt), d.failedAt ? time(d.failedAt) : '']])}
${d.state === 'failed' ? postButton('/failed/replay', 'Replay', sessionOf(request).csrf, { jobId: `${d.queue}/${d.jobId}`, back: '/failed' }, 'primary') : ''}
<h2>Reason</h2><pre>${d.reason ?? ''}</pre><h2>Payload</h2><pre>${JSON.stringify(d.data, null, 2)}</pre>
<h2>Attempts</h2>${d.stacktrace.map((s, i) => html`<details><summary>attempt ${i + 1}</summary><pre>${s.join('\n')}</pre></details>`)}
<h2>Audit</h2>${auditTable(d.audit)}`;
    } catch (err) {
      body = html`<p class="error">${(err as Error).message}</p>`;
    }
    return render(request, reply, `Job ${id}`, '/failed', body);
  });

  app.post('/failed/replay', async (request, reply) => {
    const ids = fields(request.body, 'jobId');
    const text = ids.length ? describeReplay(await replay(ctx, ids)) : 'No job named.';
    await ctx.sessions.setFlash(sessionOf(request).id, text);
    const back = field(request.body, 'back');
    return reply.redirect(back?.startsWith('/failed') ? back : '/failed', 303);
  });

  app.get('/audit', async (request, reply) => {
    const input = auditInput(request.query);
    let result: Raw;
    try {
      const entries = await searchAudit(new AuditLog(ctx.redis, ctx.prefix), parseAuditFilters(input, { defaultLimit: 100 }));
      result = html`<p>Export these: <a href="${href('/audit/export', { ...input, format: 'csv' })}">CSV</a> · <a href="${href('/audit/export', { ...input, format: 'json' })}">JSON</a> <span class="muted">(every match, oldest first; limit applies only if set)</span></p>${auditTable(entries)}`;
    } catch (err) {
      if (!(err instanceof AuditInputError)) throw err;
      result = html`<p class="error">${err.message}</p>`;
    }
    const text = (name: keyof AuditFilterInput, hint = '') => html`<label>${name}<input name="${name}" value="${input[name] ?? ''}" placeholder="${hint}"></label>`;
    const body = html`<form class="filters" method="get" action="/audit">${text('user')}${text('target', 'crowd')}${text('status', AUDIT_STATUSES.join(','))}${text('operation', 'create,update')}${text('since', '2024-05-01')}${text('until')}${text('limit', '100')}<button type="submit">Search</button></form>${result}`;
    return render(request, reply, 'Audit', '/audit', body);
  });

  app.get('/audit/export', async (request, reply) => {
    const format = field(request.query, 'format') ?? 'csv';
    let query;
    try {
      if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new AuditInputError(`format must be ${EXPORT_FORMATS.join(' or ')}`);
      query = parseAuditFilters(auditInput(request.query), { defaultLimit: Infinity });
    } catch (err) {
      if (!(err instanceof AuditInputError)) throw err;
      return reply.code(400).type('text/plain').send(err.message);
    }
    // Streamed: the export writes a page at a time and waits for the socket to drain.
    const out = new PassThrough();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json').header('Content-Disposition', `attachment; filename="idsync-audit-${stamp}.${format}"`);
    exportAudit(new AuditLog(ctx.redis, ctx.prefix), { format: format as ExportFormat, output: out, query }).then(
      () => out.end(),
      (err: Error) => {
        request.log.warn({ err: err.message }, 'dashboard: audit export stopped');
        out.destroy(err);
      },
    );
    return reply.send(out);
  });

  app.get('/trace', async (request, reply) => {
    const user = field(request.query, 'user');
    let result: Raw = html``;
    if (user) {
      const t = await traceUser({ redis: ctx.redis, prefix: ctx.prefix }, user, ctx.config.targets.length ? { targets: ctx.config.targets } : {});
      result = html`<h2>Diagnosis</h2>${table(['target', '', 'diagnosis'], t.diagnosis.map((d) => [d.target, html`<span class="${d.ok ? 'ok' : 'bad'}">${d.ok ? 'ok' : 'problem'}</span>`, d.text]))}
<h2>Links</h2>${table(['target', 'linked', 'remote', 'version', 'updated'], t.links.map((l) => [l.target, l.linked ? 'yes' : 'no', l.remoteName ?? l.remoteId ?? '', l.version ?? '', l.updatedAt ? time(l.updatedAt) : '']))}
<h2>Timeline</h2>${table(['time', 'source', 'target', 'event'], t.timeline.map((e) => [time(e.time), e.source, e.target, e.text]), 'Nothing recorded for this user.')}
<details><summary>As the CLI prints it (idsync trace)</summary><pre>${formatTrace(t)}</pre></details>`;
    }
    const body = html`<form class="filters" method="get" action="/trace"><label>application user id<input name="user" value="${user ?? ''}" size="30"></label><button type="submit">Trace</button></form>${result}`;
    return render(request, reply, user ? `Trace of ${user}` : 'Trace', '/trace', body);
  });
}

function auditInput(query: unknown): AuditFilterInput {
  const input: AuditFilterInput = {};
  for (const k of ['user', 'target', 'status', 'operation', 'since', 'until', 'limit'] as const) {
    const v = field(query, k);
    if (v !== undefined) input[k] = v;
  }
  return input;
}

function auditTable(entries: readonly StoredAuditEntry[]): Raw {
  return table(['time', 'target', 'status', 'operation', 'user', 'attempt', 'ms', 'job', 'changed', 'error'], entries.map((e) => [
    time(e.time), e.target, e.status, `${e.operation} ${e.resource}`, html`<a href="${href('/trace', { user: e.subject })}">${e.subject}</a>`,
    e.attempt, e.durationMs, e.jobId ?? '', e.changedAttributes?.join(', ') ?? '', e.error ?? '',
  ]), 'No audit entries match.');
}

function select(name: string, value: string | undefined, options: readonly string[]): Raw {
  return html`<label>${name}<select name="${name}"><option value="">any</option>${options.map((o) => html`<option${o === value ? html` selected` : ''}>${o}</option>`)}</select></label>`;
}
