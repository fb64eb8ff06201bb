/**
 * JSON with every object's keys sorted, nested ones included: two values that differ only in
 * key order (jsonb does not keep it, remotes list attributes in their own order) give one text.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}
