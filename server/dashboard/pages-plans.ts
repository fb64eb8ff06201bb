import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AttributeDiff } from '../../workers/sync/compare.js';
import type { PlanEntry, PlanMeta } from '../../workers/sync/plan-store.js';
import { sessionOf, field, type DashboardContext } from './context.js';
import { approve, decidable, reject, unresolvedMatches } from './data.js';
import { href, html, page, postButton, table, time, type Raw } from './html.js';

/** Entries shown per plan page. */
const PAGE = 200;

/** Plans, one plan with its entries and the approve / reject buttons, and unresolved matches. */
export function registerPlanPages(app: FastifyInstance, ctx: DashboardContext): void {
  const render = async (request: FastifyRequest, reply: FastifyReply, title: string, path: string, body: Raw) => {
    const session = sessionOf(request);
    const flash = await ctx.sessions.takeFlash(session.id);
    return reply.type('text/html').send(page({ title, path, body, csrf: session.csrf, flash }));
  };

  app.get('/plans', async (request, reply) => {
    const plans = await ctx.plans.list({ limit: 50 });
    return render(request, reply, 'Plans', '/plans', planTable(plans));
  });

  app.get<{ Params: { id: string } }>('/plans/:id', async (request, reply) => {
    const { id } = request.params;
    const plan = await ctx.plans.get(id);
    if (!plan) return render(request, reply.code(404), 'Plan not found', '/plans', html`<p class="error">No plan ${id} (plans are kept 30 days).</p>`);
    const offset = Math.max(0, Number(field(request.query, 'offset') ?? 0) || 0);
    const [count, entries] = await Promise.all([ctx.plans.entryCount(id), ctx.plans.entries(id, offset, PAGE)]);
    const { csrf } = sessionOf(request);
    const counts = Object.entries(plan.counts).filter(([, n]) => n > 0);
    const body = html`${planTable([plan])}
${decidable(plan) ? html`<p>${postButton(`/plans/${encodeURIComponent(id)}/approve`, 'Approve and apply', csrf, {}, 'primary')} ${postButton(`/plans/${encodeURIComponent(id)}/reject`, 'Reject', csrf, {}, 'danger')}</p>` : ''}
${plan.apply ? html`<p>Apply: ${plan.apply.enqueued}/${plan.apply.total} enqueued, ${plan.apply.succeeded} succeeded, ${plan.apply.skipped} skipped, ${plan.apply.failed} failed.</p>` : ''}
<h2>Counts</h2>${table(['action', 'users'], counts)}
<h2>Entries ${count ? `${offset + 1}–${offset + entries.length} of ${count}` : ''}</h2>
${table(['action', 'application user', 'remote', 'differences', 'reason'], entries.map(entryRow), 'No entries stored (unchanged users are not stored; rejected plans drop theirs).')}
<p>${offset > 0 ? html`<a href="${href(`/plans/${encodeURIComponent(id)}`, { offset: Math.max(0, offset - PAGE) })}">← previous</a> ` : ''}${offset + PAGE < count ? html`<a href="${href(`/plans/${encodeURIComponent(id)}`, { offset: offset + PAGE })}">next →</a>` : ''}</p>`;
    return render(request, reply, `Plan ${id}`, '/plans', body);
  });

  for (const [verb, act] of [['approve', approve], ['reject', reject]] as const) {
    app.post<{ Params: { id: string } }>(`/plans/:id/${verb}`, async (request, reply) => {
      const { id } = request.params;
      let text: string;
      try {
        await act(ctx, id);
        text = verb === 'approve' ? `Plan ${id} approved; its apply job is queued.` : `Plan ${id} rejected.`;
      } catch (err) {
        text = `Not done: ${(err as Error).message}`;
      }
      await ctx.sessions.setFlash(sessionOf(request).id, text);
      return reply.redirect(`/plans/${encodeURIComponent(id)}`, 303);
    });
  }

  app.get('/matches', async (request, reply) => {
    const { matches, plans } = await unresolvedMatches(ctx);
    const body = html`<p class="muted">Conflicts of the newest plan of each target (${plans.map((p, i) => html`${i ? ', ' : ''}<a href="/plans/${encodeURIComponent(p.id)}">${p.id}</a>`)}): users idsync would not match on its own. Resolve them in the application or the directory; the next full sync plans them again.</p>
${table(['plan', 'target', 'application user', 'remote', 'reason'], matches.map(({ plan, entry }) => [
  html`<a href="/plans/${encodeURIComponent(plan.id)}">${plan.id}</a>`, plan.target, userCell(entry), entry.remoteName ?? entry.remoteId ?? '', entry.reason ?? '',
]), 'No unresolved matches.')}`;
    return render(request, reply, 'Unresolved matches', '/matches', body);
  });
}

function planTable(plans: readonly PlanMeta[]): Raw {
  return table(['plan', 'target', 'status', 'created', 'changes', 'removals', 'reason'], plans.map((p) => [
    html`<a href="/plans/${encodeURIComponent(p.id)}">${p.id}</a>`, p.target, `${p.status}${p.dryRun ? ' (dry run)' : ''}`, time(p.createdAt),
    Object.entries(p.counts).filter(([a, n]) => n > 0 && a !== 'unchanged').map(([a, n]) => `${a} ${n}`).join(', '),
    `${p.removals} (limit ${p.threshold.absolute} / ${p.threshold.percent}%)`, p.reason ?? '',
  ]), 'No plans yet: run a full sync (idsync sync plan <target>).');
}

function entryRow(e: PlanEntry): unknown[] {
  return [e.action, userCell(e), e.remoteName ?? e.remoteId ?? '', html`${diffList('in the target', e.diff, false)}${diffList('in the application', e.appDiff, true)}`, e.reason ?? ''];
}

function userCell(e: PlanEntry): Raw | string {
  const name = e.username ?? e.appUsername ?? '';
  return e.appUserId ? html`<a href="${href('/trace', { user: e.appUserId })}">${e.appUserId}</a> ${name}` : name;
}

// Each line reads "now → after the apply": a target diff takes the application's value, an app diff the target's.
function diffList(side: string, diff: readonly AttributeDiff[] | undefined, toApp: boolean): Raw | string {
  if (!diff?.length) return '';
  return html`<div class="muted">${side}:</div><ul>${diff.map((d) => html`<li>${d.attribute}: ${show(toApp ? d.app : d.target)} → ${show(toApp ? d.target : d.app)}</li>`)}</ul>`;
}

const show = (v: unknown) => (v === undefined ? '∅' : typeof v === 'string' ? v : JSON.stringify(v));
