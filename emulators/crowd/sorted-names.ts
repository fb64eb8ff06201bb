// A set of lower-cased names that can be listed in Crowd's name order. Listings must be
// name-ordered for offset paging, but inserting into a sorted array on every write is O(n)
// per write (too slow for 100k-member groups). So writes only touch a Set plus a pending
// list, and the first read after writes merges: O(n + k log k) once per burst of k writes.

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class SortedNames {
  private readonly members = new Set<string>();
  private sorted: string[] = [];
  private pending: string[] = [];
  private dirty = false;

  get size(): number {
    return this.members.size;
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  add(name: string): boolean {
    if (this.members.has(name)) return false;
    this.members.add(name);
    this.pending.push(name);
    this.dirty = true;
    return true;
  }

  delete(name: string): boolean {
    if (!this.members.delete(name)) return false;
    // The stale copy in `sorted`/`pending` is dropped at the next compaction.
    this.dirty = true;
    return true;
  }

  clear(): void {
    this.members.clear();
    this.sorted = [];
    this.pending = [];
    this.dirty = false;
  }

  /** Unordered iteration, for callers that do not page. */
  [Symbol.iterator](): IterableIterator<string> {
    return this.members.values();
  }

  /** All members in ascending code-unit order of the lower-cased name (Java's compareTo). */
  ordered(): readonly string[] {
    if (this.dirty) this.compact();
    return this.sorted;
  }

  private compact(): void {
    const members = this.members;
    const added = this.pending.filter((n) => members.has(n)).sort(byCodeUnit);
    const kept = this.sorted;
    const out: string[] = [];
    let i = 0;
    let j = 0;
    let last: string | undefined;
    // A name removed and re-added may sit in both lists (or twice in `added`): skip repeats.
    const push = (n: string): void => {
      if (n !== last && members.has(n)) {
        out.push(n);
        last = n;
      }
    };
    while (i < kept.length && j < added.length) {
      const a = kept[i] as string;
      const b = added[j] as string;
      if (a <= b) {
        push(a);
        i++;
      } else {
        push(b);
        j++;
      }
    }
    while (i < kept.length) push(kept[i++] as string);
    while (j < added.length) push(added[j++] as string);
    this.sorted = out;
    this.pending = [];
    this.dirty = false;
  }
}
