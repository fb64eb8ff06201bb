import { loadConfig } from '../../shared/config.js';
import { crowdEnv } from '../../emulators/crowd/index.js';
import { createCrowdConnector } from '../../workers/crowd/index.js';
import { remoteCalls, routeOf } from '../../workers/runtime/process-metrics.js';
import { startEmulator } from './crowd/helpers.js';

describe('process metrics', () => {
  it('labels Graph routes without ids or names, so the label stays small', () => {
    expect(routeOf('/users/2f7e1c9a-4b3d-4e8f-a6c1-9d0b5e3f7a21')).toBe('/users/{id}');
    expect(routeOf('/users/alice@contoso.com/memberOf')).toBe('/users/{id}/memberOf');
    expect(routeOf('/groups/abc123/members/$ref')).toBe('/groups/{id}/members/$ref');
    expect(routeOf('/users/delta?$select=id')).toBe('/users/delta');
    expect(routeOf('/$batch')).toBe('/$batch');
    expect(routeOf('/directory/deletedItems/42/restore')).toBe('/directory/deletedItems/{id}/restore');
  });

  it('counts every Crowd call by method, route and status', async () => {
    const em = await startEmulator();
    const connector = await createCrowdConnector(loadConfig(crowdEnv(em.info)).crowd!);
    try {
      const before = (await remoteCalls.get()).values.find((v) => v.labels.route === 'user' && v.labels.status === '404')?.value ?? 0;
      expect(await connector.readUser('nobody')).toBeNull();
      const after = (await remoteCalls.get()).values.find((v) => v.labels.target === 'crowd' && v.labels.method === 'GET' && v.labels.route === 'user' && v.labels.status === '404')?.value ?? 0;
      expect(after).toBe(before + 1);
    } finally {
      await connector.close();
      await em.close();
    }
  });
});
