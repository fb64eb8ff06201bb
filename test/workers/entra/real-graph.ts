// The genuine GraphClient on the emulator, for checking against Graph itself the requests
// that tests pin on the fake client (fake-graph.ts).
import type { Redis } from 'ioredis';
import { entraEnv, type EntraEmulator } from '../../../emulators/entra/index.js';
import { GraphClient } from '../../../workers/entra/client.js';
import { AppCredential } from '../../../workers/entra/credentials.js';
import { RequestBudget } from '../../../workers/runtime/request-budget.js';

/** The client of the emulator's default app; its write budget lives under `<prefix>:budget`. */
export function realGraphClient(em: EntraEmulator, redis: Redis, prefix: string): GraphClient {
  const env = entraEnv(em.info);
  const credential = new AppCredential({
    tenantId: env.ENTRA_TENANT_ID,
    clientId: env.ENTRA_CLIENT_ID,
    clientSecret: env.ENTRA_CLIENT_SECRET,
    clientCertificatePath: undefined,
    authorityHost: env.ENTRA_AUTHORITY_HOST,
    timeoutMs: 5000,
  });
  return new GraphClient({ graphBaseUrl: env.GRAPH_BASE_URL, credential, timeoutMs: 5000, budget: new RequestBudget(redis, `${prefix}:budget`, { perSecond: 10_000 }) });
}
