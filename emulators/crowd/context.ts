// What a route handler sees and returns. Handlers are synchronous and pure over the store;
// server.ts owns transport concerns (auth, faults, negotiation, writing).
import type { RenderContext, Representation } from './entities.js';
import type { CrowdFaults } from './faults.js';
import type { Format } from './negotiation.js';
import type { DirectoryStore } from './store.js';

export interface EmulatorSettings {
  applicationName: string;
  allowEmailChange: boolean;
}

export interface RequestContext {
  method: string;
  /** Path below `rest/usermanagement/1/`, without trailing slash, e.g. `user/group/direct`. */
  route: string;
  query: URLSearchParams;
  /** Negotiated reply format (also used for error entities). */
  format: Format;
  render: RenderContext;
  store: DirectoryStore;
  faults: Readonly<CrowdFaults>;
  settings: EmulatorSettings;
  body: Buffer;
  contentType: string | undefined;
}

export interface Reply {
  status: number;
  rep?: Representation;
  headers?: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => Reply;
