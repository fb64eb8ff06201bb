// A reply after serialisation, shared by the pipeline and the fault replies.
import type { Format } from './negotiation.js';

export const TEXT = 'text/plain;charset=UTF-8';
export const HTML = 'text/html;charset=utf-8';
export const CONTENT_TYPES: Record<Format, string> = { json: 'application/json', xml: 'application/xml' };

/** A fully serialised reply; `crowd` marks replies produced by the Crowd server itself. */
export interface Outgoing {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
  crowd: boolean;
}

export const out = (status: number, body: string | undefined, contentType?: string, crowd = true): Outgoing => ({
  status,
  headers: contentType && body !== undefined ? { 'Content-Type': contentType } : {},
  body,
  crowd,
});

