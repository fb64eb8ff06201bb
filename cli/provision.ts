import { loadConfig, type Env } from '../shared/config.js';
import { TARGETS, type Target } from '../shared/jobs.js';
import { createSyncClient } from '../producers/client.js';
import { progressBar } from './progress.js';

export interface ProvisionCommandOptions {
  all?: boolean;
  ids?: string;
  remoteIds?: string;
  fromTarget?: boolean;
  json?: boolean;
}

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

/**
 * `idsync provision <target...> (--all | --ids a,b | --remote-ids x,y) [--from-target]`: one
 * provision job through the client library, followed to the end with a progress bar in users.
 * Exit 0 when every user went through, 1 when some failed (see `idsync failed list`) or a named
 * id names nobody.
 */
export async function provisionCommand(targetArgs: string[], options: ProvisionCommandOptions, env: Env = process.env): Promise<number> {
  const unknown = targetArgs.filter((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown.length || !targetArgs.length) throw new Error(`expected targets among ${TARGETS.join(', ')}${unknown.length ? `, got ${unknown.join(', ')}` : ''}`);
  const scopes = [options.all, options.ids, options.remoteIds].filter((v) => v !== undefined);
  if (scopes.length !== 1) throw new Error('give exactly one of --all, --ids and --remote-ids');
  const scope = options.all ? 'all' : options.ids !== undefined ? { ids: list(options.ids) } : { remoteIds: list(options.remoteIds!) };
  const config = loadConfig(env);
  const client = createSyncClient({ redisUrl: config.redisUrl, prefix: config.prefix, targets: targetArgs as Target[] });
  const bar = progressBar(!options.json);
  try {
    const run = await client.provision(scope, { direction: options.fromTarget ? 'from-target' : 'to-target' });
    const result = await run.finished({ onProgress: (p) => bar.update(p) });
    bar.stop();
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      for (const [target, t] of Object.entries(result.targets)) {
        process.stdout.write(`${target}: ${t.users} users, ${t.succeeded} succeeded, ${t.skipped} skipped, ${t.failed} failed, ${t.notFound} not found\n`);
      }
    }
    // notFound is undefined in a result from a worker older than the field: `> 0` is false then.
    return Object.values(result.targets).some((t) => t.failed > 0 || t.notFound > 0) ? 1 : 0;
  } finally {
    bar.stop();
    await client.close();
  }
}
