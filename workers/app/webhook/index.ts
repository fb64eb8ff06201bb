import { WebhookDirectory } from './webhook-directory.js';

export { WebhookDirectory } from './webhook-directory.js';
export { WebhookClient, type WebhookClientOptions, type WebhookRequest } from './client.js';
export { errorFromReply, errorFromTransport, malformedSuccess, retryAfterMs, type RawReply, type WebhookCall } from './errors.js';
export { HEADERS, REPLAY_WINDOW_MS, type ApplyRequestBody, type ChangeRequestBody, type PhotoRequestBody, type RolesRequestBody } from './protocol.js';
export { signRequest, verifyRequest, type SignRequestInput, type SignedHeaders, type VerifyRequestInput, type VerifyResult } from './signature.js';

export interface CreateWebhookDirectoryOptions {
  /** APP_WEBHOOK_URL: the receiver's address. */
  url: string;
  /** APP_WEBHOOK_SECRET: the HMAC key both sides share. */
  secret: string;
  /** Per request, connect to last byte. @defaultValue 10000 */
  timeoutMs?: number;
}

/** The `webhook` application side (APP_WEBHOOK_URL). Close it with `close()`. */
export function createWebhookDirectory(options: CreateWebhookDirectoryOptions): WebhookDirectory {
  return new WebhookDirectory({ url: options.url, secret: options.secret, timeoutMs: options.timeoutMs ?? 10_000 });
}
