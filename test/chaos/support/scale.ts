/**
 * The chaos suite runs in two sizes: a short form inside `npm test` (a 2-core machine must
 * finish the whole suite in about five minutes) and the long form under `npm run test:chaos`,
 * which sets IDSYNC_CHAOS=long.
 */
export const longChaos = process.env.IDSYNC_CHAOS === 'long';

/** `short` inside `npm test`, `long` under `npm run test:chaos`. */
export function chaosSize<T>(short: T, long: T): T {
  return longChaos ? long : short;
}

/** A per-test timeout that grows with the long form. */
export function chaosTimeoutMs(shortMs: number, longMs: number): number {
  return chaosSize(shortMs, longMs);
}
