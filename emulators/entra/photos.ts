import { createHash } from 'node:crypto';
import type { Core } from './core.js';
import type { Photo } from './directory.js';
import { GraphError, badRequest } from './errors.js';
import { json, noContent, type GraphRequest, type GraphResponse } from './http.js';
import { requirePermission } from './permissions.js';
import { findUserOrThrow } from './users.js';

const MAX_PHOTO_BYTES = 4 * 1024 * 1024;

const imageNotFound = (): GraphError =>
  new GraphError(404, 'ImageNotFound', "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.");

export function makePhoto(data: Buffer, contentType: string): Photo {
  const { width, height } = imageSize(data);
  const etag = `W/"${createHash('sha256').update(data).digest('hex').slice(0, 64)}"`;
  return { data, contentType, etag, width, height };
}

function photoOf(core: Core, key: string): Photo {
  const user = findUserOrThrow(core, key);
  const photo = core.directory.photos.get(user.id);
  if (!photo) throw imageNotFound();
  return photo;
}

export function getPhotoMetadata(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'readPhotos');
  const photo = photoOf(core, key);
  const user = findUserOrThrow(core, key);
  return json(200, {
    '@odata.context': `${req.origin}/v1.0/$metadata#users('${user.id}')/photo/$entity`,
    '@odata.mediaContentType': photo.contentType,
    '@odata.mediaEtag': photo.etag,
    id: photo.width !== null && photo.height !== null ? `${photo.width}X${photo.height}` : 'default',
    height: photo.height,
    width: photo.width,
  });
}

export function getPhotoValue(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'readPhotos');
  const photo = photoOf(core, key);
  return { status: 200, headers: { 'Content-Type': photo.contentType, ETag: photo.etag }, binary: photo.data };
}

export function putPhotoValue(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'writePhotos');
  const user = findUserOrThrow(core, key);
  const data = req.body ?? Buffer.alloc(0);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!data.length) throw badRequest('The photo content is empty.');
  if (!contentType.startsWith('image/')) throw new GraphError(400, 'ErrorInvalidImage', 'The content type must be an image (for example image/jpeg).');
  if (data.length > MAX_PHOTO_BYTES) throw new GraphError(413, 'ErrorRequestEntityTooLarge', 'The photo exceeds the 4 MB limit.');
  core.directory.photos.set(user.id, makePhoto(Buffer.from(data), contentType));
  return { status: 200, headers: {} };
}

export function deletePhoto(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'writePhotos');
  const user = findUserOrThrow(core, key);
  if (!core.directory.photos.delete(user.id)) throw imageNotFound();
  return noContent();
}

/** Pixel size from a JPEG SOFn marker or a PNG IHDR chunk; null when unknown. */
export function imageSize(data: Buffer): { width: number | null; height: number | null } {
  if (data.length > 24 && data.readUInt32BE(0) === 0x89504e47) {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length > 4 && data[0] === 0xff && data[1] === 0xd8) {
    let i = 2;
    while (i + 9 < data.length) {
      if (data[i] !== 0xff) {
        i++;
        continue;
      }
      const marker = data[i + 1]!;
      const len = data.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: data.readUInt16BE(i + 5), width: data.readUInt16BE(i + 7) };
      }
      i += 2 + len;
    }
  }
  return { width: null, height: null };
}
