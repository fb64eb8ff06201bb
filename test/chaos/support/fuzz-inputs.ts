import fc from 'fast-check';

/**
 * Inputs for the fuzz tests, built from a model of validity of its own (what Crowd and Graph
 * accept), not from idsync's schemas: a valid snapshot is made of characters every target
 * takes, within the targets' limits in UTF-16 units; an invalid one is a valid one with one
 * known defect planted.
 */

/** Characters that must never reach a single-line field (controls, bidi, zero-width, lone surrogates). */
export const FORBIDDEN_CHARS = [
  '\u0000', '\u0001', '\u0008', '\t', '\n', '\u000b', '\r', '\u001b', '\u001f', '\u007f', '\u0080', '\u0085', '\u009f',
  '\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069',
  '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\ud800', '\udbff', '\udc00', '\udfff',
];

// Letters of several scripts, an astral emoji (two UTF-16 units), punctuation a name may hold.
const SAFE_UNITS = ['a', 'Z', 'q', '0', '7', 'é', 'ß', 'Ø', 'ж', '漢', 'ア', 'ع', '\u{1f600}', '\u{1d11e}', '-', '.', '_', "'", ' ', '@', '+'];

/** A single-line text of at most `max` UTF-16 units that does not trim to empty. */
export const safeText = (max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...SAFE_UNITS), { minLength: 0, maxLength: Math.max(0, Math.floor(max / 2) - 1) }).map((units) => `a${units.join('')}`);

export const validEmail = fc.tuple(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.constantFrom('example.com', 'contoso.onmicrosoft.com')).map(([l, d]) => `${l}@${d}`);

export interface Snapshot {
  id: string;
  username: string;
  email: string;
  firstName?: string | null;
  lastName?: string | null;
  displayName?: string | null;
  active?: boolean;
  groups?: string[];
  attributes?: Record<string, string | string[]>;
  version?: number;
}

/** Snapshots Crowd and Graph would take: ids, names and groups within both targets' limits. */
export const validSnapshot: fc.Arbitrary<Snapshot> = fc.record(
  {
    id: safeText(256),
    username: safeText(255),
    email: validEmail,
    firstName: fc.option(safeText(64), { nil: null }),
    lastName: fc.option(safeText(64), { nil: null }),
    displayName: fc.option(safeText(256), { nil: null }),
    active: fc.boolean(),
    groups: fc.array(safeText(255), { maxLength: 5 }),
    attributes: fc.dictionary(fc.stringMatching(/^[a-z][a-zA-Z0-9_-]{0,30}$/), fc.oneof(safeText(200), fc.array(safeText(100), { maxLength: 4 })), { maxKeys: 6 }),
    version: fc.nat(),
  },
  { requiredKeys: ['id', 'username', 'email'] },
);

const SINGLE_LINE = ['id', 'username', 'firstName', 'lastName', 'displayName'] as const;
const LIMIT: Record<(typeof SINGLE_LINE)[number], number> = { id: 256, username: 255, firstName: 64, lastName: 64, displayName: 256 };

/** Inserts `ch` at a position of `s` chosen by `at` (0..1). */
const insert = (s: string, ch: string, at: number) => {
  const i = Math.floor(at * (s.length + 1));
  return s.slice(0, i) + ch + s.slice(i);
};

/** A defect and the snapshot that carries it; `field` is the path the error must name ('' = the root). */
export interface Defect {
  kind: string;
  field: string;
  snapshot: Record<string, unknown>;
}

const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));

/** A valid snapshot with exactly one defect the model knows makes it invalid. */
export const invalidSnapshot: fc.Arbitrary<Defect> = validSnapshot.chain((base) =>
  fc.oneof(
    fc.tuple(fc.constantFrom(...SINGLE_LINE), fc.constantFrom(...FORBIDDEN_CHARS), fc.double({ min: 0, max: 1, noNaN: true })).map(([field, ch, at]): Defect =>
      ({ kind: 'forbidden character', field, snapshot: { ...base, [field]: insert(String(base[field] ?? 'x'), ch, at) } })),
    fc.tuple(fc.constantFrom(...FORBIDDEN_CHARS), fc.double({ min: 0, max: 1, noNaN: true })).map(([ch, at]): Defect =>
      ({ kind: 'forbidden character in a group', field: 'groups.0', snapshot: { ...base, groups: [insert('staff', ch, at)] } })),
    // Astral characters: within the limit in code points, over it in UTF-16 units.
    fc.constantFrom(...SINGLE_LINE).map((field): Defect =>
      ({ kind: 'too long in UTF-16 units', field, snapshot: { ...base, [field]: '\u{1f600}'.repeat(Math.floor(LIMIT[field] / 2) + 1) } })),
    fc.constantFrom(...SINGLE_LINE).map((field): Defect => ({ kind: 'too long', field, snapshot: { ...base, [field]: 'x'.repeat(LIMIT[field] + 1) } })),
    fc.tuple(fc.constantFrom('id', 'username', 'email'), fc.constantFrom('', '   ')).map(([field, blank]): Defect => ({ kind: 'blank', field, snapshot: { ...base, [field]: blank } })),
    fc.tuple(fc.constantFrom('id', 'username', 'email'), notAString).map(([field, v]): Defect => ({ kind: 'wrong type', field, snapshot: { ...base, [field]: v } })),
    fc.constantFrom('id', 'username', 'email').map((field): Defect => {
      const { [field as 'id']: _dropped, ...rest } = base;
      return { kind: 'missing', field, snapshot: rest };
    }),
    fc.constant<Defect>({ kind: 'e-mail without @', field: 'email', snapshot: { ...base, email: base.email.replace('@', '') } }),
    fc.constantFrom('firstname', 'userName', 'mail', 'group').map((field): Defect => ({ kind: 'unknown field', field, snapshot: { ...base, [field]: 'x' } })),
    fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.string()).map((v): Defect => ({ kind: 'bad version', field: 'version', snapshot: { ...base, version: v } })),
    fc.integer({ min: 257, max: 400 }).map((n): Defect => ({ kind: 'too many attributes', field: 'attributes', snapshot: { ...base, attributes: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'])) } })),
    fc.integer({ min: 17, max: 40 }).map((n): Defect => ({ kind: 'snapshot over 64 KiB', field: '', snapshot: { ...base, attributes: { big: Array.from({ length: n }, () => 'x'.repeat(4000)) } } })),
    fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string(), fc.object({ maxDepth: 1 })).map((v): Defect => ({ kind: 'groups not a list', field: 'groups', snapshot: { ...base, groups: v } })),
  ),
);
