import { checkedText, jsonBytes, requiredText } from '../../shared/text.js';

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
