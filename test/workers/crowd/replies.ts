import type { RawReply } from '../../../workers/crowd/errors.js';

/** A raw Crowd reply as the client hands it to the error mapping: JSON parsed when it is JSON and parses. */
export function reply(status: number, text: string, contentType = 'application/json', headers: RawReply['headers'] = {}): RawReply {
  let json: unknown;
  try {
    json = contentType.includes('json') ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status, text, contentType, headers, json, malformed: false };
}
