/**
 * @peculiar/x509 loads tsyringe, which refuses to start without the Reflect metadata API
 * (normally from the `reflect-metadata` package, which this project does not install).
 * tsyringe only needs define/get(Own)Metadata, so a WeakMap-backed subset suffices.
 * Import this module before '@peculiar/x509'.
 */
type MetadataMap = Map<unknown, unknown>;
const store = new WeakMap<object, Map<PropertyKey | undefined, MetadataMap>>();

function metadataFor(target: object, property: PropertyKey | undefined, create: boolean): MetadataMap | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    store.set(target, (byProperty = new Map()));
  }
  let map = byProperty.get(property);
  if (!map && create) byProperty.set(property, (map = new Map()));
  return map;
}

interface ReflectMetadataApi {
  defineMetadata?: (key: unknown, value: unknown, target: object, property?: PropertyKey) => void;
  getOwnMetadata?: (key: unknown, target: object, property?: PropertyKey) => unknown;
  getMetadata?: (key: unknown, target: object, property?: PropertyKey) => unknown;
  hasMetadata?: (key: unknown, target: object, property?: PropertyKey) => boolean;
  metadata?: (key: unknown, value: unknown) => (target: object, property?: PropertyKey) => void;
}

const api = Reflect as unknown as ReflectMetadataApi;
if (typeof api.getMetadata !== 'function') {
  api.defineMetadata = (key, value, target, property) => {
    metadataFor(target, property, true)!.set(key, value);
  };
  api.getOwnMetadata = (key, target, property) => metadataFor(target, property, false)?.get(key);
  api.getMetadata = (key, target, property) => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const map = metadataFor(t, property, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
  api.hasMetadata = (key, target, property) => api.getMetadata!(key, target, property) !== undefined;
  api.metadata = (key, value) => (target, property) => api.defineMetadata!(key, value, target, property);
}

export {};
