// The lazily merged name index must always list exactly the live members, in code-unit order,
// whatever the interleaving of adds, deletes and reads.
import fc from 'fast-check';
import { SortedNames } from '../../../emulators/crowd/sorted-names.js';

type Op = { op: 'add' | 'delete' | 'read'; name: string };

describe('SortedNames', () => {
  it('matches a sorted Set under any sequence of operations', () => {
    const op = fc.record({
      op: fc.constantFrom<Op['op']>('add', 'add', 'delete', 'read'),
      name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'aa', 'B', 'z'),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const names = new SortedNames();
        const model = new Set<string>();
        for (const { op: kind, name } of ops) {
          if (kind === 'add') {
            expect(names.add(name)).toBe(!model.has(name));
            model.add(name);
          } else if (kind === 'delete') expect(names.delete(name)).toBe(model.delete(name));
          else expect(names.ordered()).toEqual([...model].sort());
        }
        expect(names.ordered()).toEqual([...model].sort());
        expect(names.size).toBe(model.size);
      }),
    );
  });
});
