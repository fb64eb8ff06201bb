import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../../shared/errors.js';
import { HttpError } from '../errors.js';

/**
 * Ingest bodies arrive as raw bytes and are parsed as JSON only after the signature over
 * those exact bytes was checked (a parser that re-serialised would change what was signed).
 * Fastify enforces the size limit while reading (413).
 */

const raw = new WeakMap<FastifyRequest, Buffer>();
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** In this plugin's scope only: every content type is read as bytes, up to `bodyLimit`. */
export function readRawBodies(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    raw.set(request, body as Buffer);
    done(null, undefined);
  });
}

/** The bytes as sent; empty when the request had no body. */
export function rawBody(request: FastifyRequest): Buffer {
  return raw.get(request) ?? Buffer.alloc(0);
}

/** The body as JSON (undefined when empty); 415 for anything but JSON, 400 for broken JSON. */
export function parseJsonBody(request: FastifyRequest): unknown {
  const bytes = rawBody(request);
  if (bytes.length === 0) return undefined;
  if (!JSON_TYPE.test(request.headers['content-type'] ?? '')) throw new HttpError(415, { error: 'unsupported-media-type' });
  try {
    return JSON.parse(bytes.toString('utf8'), dropPrototypeKeys);
  } catch {
    // JSON.parse's message quotes the input (a password, say): never pass it on.
    throw new ValidationError([{ path: '', message: 'the body is not valid JSON' }], 'body');
  }
}

// `__proto__` and `constructor.prototype` as JSON keys are harmless to JSON.parse but not to
// code that copies objects key by key; nothing in the API uses them.
function dropPrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined;
  if (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value) return undefined;
  return value;
}
