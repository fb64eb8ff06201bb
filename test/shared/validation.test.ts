// How validate() names what is wrong: unknown fields, bad record keys and union branches.
import { z } from 'zod';
import { ValidationError } from '../../shared/errors.js';
import { validate } from '../../shared/validation.js';

function issuesOf(schema: z.ZodType, input: unknown, prefix: (string | number)[] = []) {
  try {
    validate(schema, input, 'thing', prefix);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

const value = z.string().max(3, 'too long');
const union = z.union([value, z.array(value).max(2, 'at most 2 values')]);

describe('validate', () => {
  it('names each unknown field at its own path, after the prefix', () => {
    const schema = z.strictObject({ outer: z.strictObject({ a: z.string() }) });
    expect(issuesOf(schema, { outer: { a: 'x', b: 1, c: 2 } }, ['users', 4])).toEqual([
      { path: 'users.4.outer.b', message: 'unknown field' },
      { path: 'users.4.outer.c', message: 'unknown field' },
    ]);
  });

  it('names a bad record key by its record, however deep the record sits', () => {
    const schema = z.object({ a: z.object({ b: z.record(z.string().max(2, 'is too long'), z.string()) }) });
    expect(issuesOf(schema, { a: { b: { long: 'v' } } }, ['users', 1])).toEqual([{ path: 'users.1.a.b', message: 'a key is too long' }]);
  });

  it('says what is wrong with a union member when only one branch had the right type', () => {
    expect(issuesOf(z.object({ v: union }), { v: 'long' })).toEqual([{ path: 'v', message: 'too long' }]);
    expect(issuesOf(z.object({ v: union }), { v: ['a', 'b', 'c'] })).toEqual([{ path: 'v', message: 'at most 2 values' }]);
    expect(issuesOf(z.object({ v: union }), { v: ['a', 'long'] })).toEqual([{ path: 'v.1', message: 'too long' }]);
    // A branch with one wrong-typed field and one other problem is still the branch of the right type.
    const objectOrList = z.union([z.object({ a: z.string('a must be text'), b: z.string().max(1, 'b too long') }), z.array(z.string())]);
    expect(issuesOf(z.object({ v: objectOrList }), { v: { a: 1, b: 'long' } })).toEqual([
      { path: 'v.a', message: 'a must be text' },
      { path: 'v.b', message: 'b too long' },
    ]);
  });

  it("falls back to zod's union message when no branch, or more than one, had the right type", () => {
    const [wrongType] = issuesOf(z.object({ v: union }), { v: 5 });
    expect(wrongType).toEqual({ path: 'v', message: expect.any(String) });
    expect(wrongType!.message).not.toBe('too long');
    // Two branches of the right type (both strings), each refusing it: no branch is picked.
    const both = z.union([z.string().min(5, 'too short'), z.string().regex(/^x/, 'must start with x')]);
    expect(issuesOf(z.object({ v: both }), { v: 'ab' })).toEqual([{ path: 'v', message: 'Invalid input' }]);
    // A literal of the wrong value at the union itself counts as a wrong type, like a wrong type.
    const literalOrList = z.union([z.literal('all'), z.array(value).max(2, 'at most 2 values')]);
    expect(issuesOf(z.object({ v: literalOrList }), { v: ['a', 'b', 'c'] })).toEqual([{ path: 'v', message: 'at most 2 values' }]);
  });

  it('never echoes the value it refused', () => {
    const secret = 'hunter2-secret';
    const issues = issuesOf(z.object({ v: union, k: z.record(z.string().max(2), z.string()) }), { v: secret, k: { [secret]: 'x' } });
    expect(JSON.stringify(issues)).not.toContain(secret);
  });
});
