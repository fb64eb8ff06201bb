import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../shared/config.js';
import { silentLogger } from '../../shared/logger.js';
import { buildHttpApp } from '../../server/index.js';
import { REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { alice, send, TOKEN } from './support.js';

/** `buildHttpApp` leaves room for more plugins (the dashboard) on the same instance. */
describe('buildHttpApp', () => {
  it('takes more routes before listen; the ingest credentials and body rules stay on /api/v1', async () => {
    const config = loadConfig({
      REDIS_URL, IDSYNC_PREFIX: uniquePrefix('http-app'), IDSYNC_TARGETS: 'crowd',
      CROWD_URL: 'http://127.0.0.1:9', CROWD_APP_NAME: 'idsync', CROWD_APP_PASSWORD: 'unused', IDSYNC_INGEST_TOKEN: TOKEN,
    });
    const app = buildHttpApp({ config, logger: silentLogger });
    app.register(async (dashboard) => {
      dashboard.post('/ping', async (request) => ({ pong: request.body }));
    }, { prefix: '/dashboard' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const ping = await send(url, 'POST', '/dashboard/ping', { body: { a: 1 }, auth: 'none' });
      expect(ping).toMatchObject({ status: 200, json: { pong: { a: 1 } } });
      expect((await send(url, 'GET', '/dashboard/nope', { auth: 'none' })).json).toEqual({ error: 'not-found' });
      expect((await send(url, 'PUT', '/api/v1/users/1', { body: alice, auth: 'none' })).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('refuses to start without a target', () => {
    const config = loadConfig({ REDIS_URL, IDSYNC_INGEST_TOKEN: TOKEN });
    expect(() => buildHttpApp({ config, logger: silentLogger })).toThrow(/IDSYNC_TARGETS/);
  });
});
