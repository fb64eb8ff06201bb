import { checkedText, freeTextProblem, jsonBytes, requiredText, singleLineProblem } from '../../shared/text.js';

const issues = (schema: ReturnType<typeof checkedText>, value: unknown) => schema.safeParse(value).error?.issues.map((i) => i.message) ?? [];

describe('checked text', () => {
  it('names the character problem alone, without also running the length check', () => {
    const schema = checkedText({ max: 3 });
    expect(issues(schema, 'ab\u0000cdef')).toEqual(['must not contain control characters (NUL, TAB, CR, LF, DEL, C1)']);
    expect(issues(schema, 'a\u202ebcdef')).toEqual(['must not contain bidirectional formatting characters']);
    expect(issues(schema, 'a\u200bbcdef')).toEqual(['must not contain zero-width characters']);
    expect(issues(schema, 'a\ud800bcdef')).toEqual(['must not contain unpaired surrogates (not valid Unicode)']);
    expect(issues(checkedText({ max: 3, lines: true }), 'a\u0001bcdef')).toEqual(['must not contain control characters other than TAB, CR and LF']);
  });

  it('refuses exactly the documented characters, alone or inside a value (every UTF-16 code unit)', () => {
    const ranges = (...r: [number, number][]) => (c: number) => r.some(([from, to]) => c >= from && c <= to);
    const control = ranges([0x00, 0x1f], [0x7f, 0x9f]);
    const lineBreak = ranges([0x09, 0x0a], [0x0d, 0x0d]);
    const bidi = ranges([0x061c, 0x061c], [0x200e, 0x200f], [0x202a, 0x202e], [0x2066, 0x2069]);
    const zeroWidth = ranges([0x200b, 0x200d], [0x2060, 0x2060], [0xfeff, 0xfeff]);
    const surrogate = ranges([0xd800, 0xdfff]); // alone, any half is unpaired
    const wrong: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      const single = control(c) || bidi(c) || zeroWidth(c) || surrogate(c);
      const free = (control(c) && !lineBreak(c)) || surrogate(c);
      for (const value of [ch, `ab${ch}cd`]) {
        if ((singleLineProblem(value) !== undefined) !== single) wrong.push(`single-line U+${c.toString(16)}`);
        if ((freeTextProblem(value) !== undefined) !== free) wrong.push(`free text U+${c.toString(16)}`);
      }
    }
    expect(wrong).toEqual([]);
    // A pair is one character, not two halves.
    expect(singleLineProblem('a\ud83d\ude00b')).toBeUndefined();
    expect(freeTextProblem('line\n\ud83d\ude00')).toBeUndefined();
  });

  it('refuses empty and blank values when min is 1, and allows them when min is 0', () => {
    expect(issues(requiredText(5), '')).toEqual(['must not be empty']);
    expect(issues(requiredText(5), '   ')).toEqual(['must not be empty']);
    expect(issues(requiredText(5), 'a')).toEqual([]);
    expect(issues(checkedText({ max: 5 }), '')).toEqual([]);
    expect(issues(checkedText({ max: 5, min: 0 }), '  ')).toEqual([]);
  });

  it('names a larger minimum in the message, at the exact boundary', () => {
    const schema = checkedText({ max: 10, min: 3 });
    expect(issues(schema, 'ab')).toEqual(['must be at least 3 characters']);
    expect(issues(schema, '')).toEqual(['must be at least 3 characters']);
    expect(issues(schema, 'abc')).toEqual([]);
  });

  it('counts the maximum in UTF-16 units, at the exact limit and one over', () => {
    const schema = checkedText({ max: 4 });
    expect(issues(schema, '😀😀')).toEqual([]);
    expect(issues(schema, '😀😀a')).toEqual(['must be at most 4 characters (UTF-16 code units)']);
    expect(issues(schema, 'abcd')).toEqual([]);
    expect(issues(schema, 'abcde')).toEqual(['must be at most 4 characters (UTF-16 code units)']);
    // Trimming comes before the length check.
    expect(issues(schema, ' abcd ')).toEqual([]);
  });

  it('measures JSON as UTF-8 bytes', () => {
    expect(jsonBytes('é')).toBe(4);
    expect(jsonBytes({ a: '😀' })).toBe(12);
    expect(jsonBytes(undefined)).toBe(0);
  });
});
