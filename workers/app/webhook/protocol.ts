import type { Target } from '../../../shared/jobs.js';
import type { AppUserValues } from '../directory.js';

/**
 * The wire protocol between idsync and an application's webhook, version 1. It is a
 * public interface (docs/app-webhook.md): receivers in other languages implement it from
 * the docs, so a change here is a breaking change for them. Add optional fields only.
 */

/** Header names; HTTP header names are case-insensitive, receivers may read them in any case. */
export const HEADERS = {
  /** Unix time in whole seconds when the request was signed. */
  timestamp: 'X-Idsync-Timestamp',
  /** `v1=<hex HMAC-SHA256>`; a receiver accepts the request if any `v1=` entry matches. */
  signature: 'X-Idsync-Signature',
  /** A UUID per HTTP request, signed, so a receiver can drop a duplicate delivery. */
  delivery: 'X-Idsync-Delivery',
} as const;

/** How far a request's timestamp may be from the receiver's clock, either way. */
export const REPLAY_WINDOW_MS = 300_000;

/** `POST {url}`: create, adopt or update a user. */
export interface ApplyRequestBody {
  type: 'user.apply';
  /** The application user to update; absent = create, or adopt by username, then e-mail. */
  id?: string;
  values: AppUserValues;
  source: Target;
  remoteId?: string;
}

/** `POST {url}`: replace the user's roles. */
export interface RolesRequestBody {
  type: 'user.roles';
  id: string;
  roles: string[];
}

/** `POST {url}`: store or (with null) remove the user's photo. */
export interface PhotoRequestBody {
  type: 'user.photo';
  id: string;
  photo: { hash: string; contentType: string; /** base64 */ data: string } | null;
}

export type ChangeRequestBody = ApplyRequestBody | RolesRequestBody | PhotoRequestBody;
