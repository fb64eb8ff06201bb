/**
 * Ordered record of user changes that delta rounds replay. Sequence numbers start at 1;
 * a delta token holds the last sequence its round covered.
 */
export type ChangeKind = 'create' | 'update' | 'softDelete' | 'restore' | 'hardDelete';

export interface ChangeEntry {
  seq: number;
  userId: string;
  kind: ChangeKind;
  /** Changed properties; null means "the whole object" (create, restore). */
  props: ReadonlySet<string> | null;
  /** When the change becomes visible to readers (eventual consistency after create). */
  visibleAt: number;
}

export class ChangeLog {
  private entries: ChangeEntry[] = [];
  private pending: ChangeEntry[] = [];

  get head(): number {
    return this.entries.length;
  }

  append(userId: string, kind: ChangeKind, props: ReadonlySet<string> | null, visibleAt: number, now: number): void {
    const entry: ChangeEntry = { seq: this.entries.length + 1, userId, kind, props, visibleAt };
    this.entries.push(entry);
    if (visibleAt > now) this.pending.push(entry);
  }

  /**
   * The highest sequence a round may claim to cover: below the first change that is not
   * visible yet, so a user created just before a round ends still surfaces in the next one.
   */
  safeHead(now: number): number {
    this.pending = this.pending.filter((e) => e.visibleAt > now);
    let head = this.head;
    for (const e of this.pending) head = Math.min(head, e.seq - 1);
    return head;
  }

  /** Entries with from < seq <= to. */
  range(from: number, to: number): ChangeEntry[] {
    return this.entries.slice(Math.max(0, from), Math.max(0, to));
  }

  clear(): void {
    this.entries = [];
    this.pending = [];
  }
}
