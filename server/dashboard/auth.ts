import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { field, isApi, sessionOf, setSession, type DashboardContext } from './context.js';
import { html, page } from './html.js';
import { SESSION_COOKIE, SESSION_TTL_S, sameSecret } from './sessions.js';

/**
 * Login, logout, the session check and the CSRF check.
 *
 * Login CSRF (an attacker's page logging the victim into the attacker's session) is refused
 * by checking where the POST /login came from: browsers send `Origin` (and `Sec-Fetch-Site`)
 * on every cross-site form POST, and we accept only our own host. Clients that send neither
 * (curl, scripts) are not browsers and cannot be driven by another site. The session cookie
 * is SameSite=Strict on top, so no other site can make a logged-in request at all.
 */
export function registerLogin(app: FastifyInstance, ctx: DashboardContext, adminToken: string): void {
  app.get('/login', async (request, reply) => {
    const next = safeNext(field(request.query, 'next'));
    return reply.type('text/html').send(loginPage(next));
  });

  app.post('/login', async (request, reply) => {
    const next = safeNext(field(request.body, 'next'));
    if (!sameOrigin(request)) return reply.code(403).type('text/html').send(loginPage(next, 'Cross-site login refused.'));
    const offered = field(request.body, 'token') ?? '';
    if (!sameSecret(offered, adminToken)) {
      request.log.info({ from: request.ip }, 'dashboard: failed login');
      return reply.code(401).type('text/html').send(loginPage(next, 'Wrong token.'));
    }
    const session = await ctx.sessions.create();
    reply.setCookie(SESSION_COOKIE, session.id, { httpOnly: true, sameSite: 'strict', path: '/', secure: request.protocol === 'https', maxAge: SESSION_TTL_S });
    return reply.redirect(next, 303);
  });
}

/** Hooks for the protected scope: every route behind them needs a session, every mutation its CSRF token. */
export function protect(app: FastifyInstance, ctx: DashboardContext): void {
  app.addHook('onRequest', async (request, reply) => {
    const session = await ctx.sessions.get(request.cookies[SESSION_COOKIE]);
    if (session) return void setSession(request, session);
    if (isApi(request.url)) return reply.code(401).send({ error: 'unauthorized', message: 'log in at /login' });
    return reply.redirect(request.method === 'GET' ? `/login?next=${encodeURIComponent(request.url)}` : '/login', 303);
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const offered = request.headers['x-csrf-token'] ?? field(request.body, '_csrf');
    if (typeof offered === 'string' && sameSecret(offered, sessionOf(request).csrf)) return;
    return forbidden(request, reply);
  });

  app.post('/logout', async (request, reply) => {
    await ctx.sessions.destroy(sessionOf(request).id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });
}

function forbidden(request: FastifyRequest, reply: FastifyReply) {
  if (isApi(request.url)) return reply.code(403).send({ error: 'forbidden', message: 'missing or wrong CSRF token (X-CSRF-Token)' });
  return reply.code(403).type('text/html').send(page({ title: 'Forbidden', path: '', csrf: null, body: html`<p class="error">The form was stale or did not come from this dashboard. Go back, reload the page and try again.</p><p><a href="/">Dashboard</a></p>` }));
}

function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** Only a path of ours: `next` must not send the browser to another site after login. */
function safeNext(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

function loginPage(next: string, error?: string): string {
  return page({
    title: 'Log in',
    path: '/login',
    csrf: null,
    body: html`${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/login" class="filters">
<input type="hidden" name="next" value="${next}">
<label>Admin token<input type="password" name="token" autocomplete="current-password" size="40" autofocus></label>
<button type="submit" class="primary">Log in</button></form>
<p class="muted">The token is IDSYNC_ADMIN_TOKEN; <code>npm start</code> without one keeps it in <code>.idsync/admin.token</code>.</p>`,
  });
}
