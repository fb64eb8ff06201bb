// Types for server.mjs, so TypeScript tests can import the example receiver.

export interface ReceiverUser {
  id: string;
  username: string;
  email: string;
  firstName?: string;
  lastName?: string;
  displayName?: string;
  active: boolean;
  groups?: string[];
  roles?: string[];
  attributes?: Record<string, string | string[]>;
  photoHash?: string;
  version?: number;
}

export interface ReceiverPhoto {
  contentType: string;
  data: Buffer;
}

export interface StartReceiverOptions {
  secret: string;
  /** @defaultValue 0 (any free port) */
  port?: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** Seeds the receiver; the same Map is returned as `users`. */
  store?: Map<string, ReceiverUser>;
  /** Where the receiver listens. @defaultValue '/idsync' */
  path?: string;
  /** Called with one line per request. */
  log?: (line: string) => void;
}

export interface Receiver {
  /** The address to give idsync as APP_WEBHOOK_URL. */
  url: string;
  users: Map<string, ReceiverUser>;
  photos: Map<string, ReceiverPhoto>;
  close(): Promise<void>;
}

export const REPLAY_WINDOW_SECONDS: number;

export function startReceiver(options: StartReceiverOptions): Promise<Receiver>;

export function verifyRequest(input: {
  secret: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string | Buffer;
  nowMs?: number;
}): { ok: true; deliveryId: string } | { ok: false; reason: 'missing-headers' | 'stale' | 'bad-signature' };

export function compareIds(a: string, b: string): number;

export class UserStore {
  constructor(users?: Map<string, ReceiverUser>, photos?: Map<string, ReceiverPhoto>);
  users: Map<string, ReceiverUser>;
  photos: Map<string, ReceiverPhoto>;
}
