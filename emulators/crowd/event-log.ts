// The directory's change log behind `/event` (reference §7): every user, group and membership
// change gets a sequence number, and an event token names a position in the log. A token from
// another generation (the log was reset, or an administrator expired the tokens) or older
// than what the log still holds is expired: Crowd answers 410 EVENT_TOKEN_EXPIRED and the
// client must re-read everything.

export type EventOperation = 'CREATED' | 'UPDATED' | 'DELETED';

export type DirectoryEvent =
  | { kind: 'user'; operation: EventOperation; name: string }
  | { kind: 'group'; operation: EventOperation; name: string }
  | { kind: 'userMembership'; operation: 'CREATED' | 'DELETED'; user: string; group: string }
  | { kind: 'groupMembership'; operation: 'CREATED' | 'DELETED'; child: string; parent: string };

export interface EventLogOptions {
  /** Events kept; a token older than the oldest kept one is expired. @defaultValue 10000 */
  capacity?: number;
}

export class EventLog {
  readonly #capacity: number;
  #generation = Date.now();
  #next = 1;
  #entries: { seq: number; event: DirectoryEvent }[] = [];

  constructor(options: EventLogOptions = {}) {
    this.#capacity = Math.max(1, options.capacity ?? 10_000);
  }

  record(event: DirectoryEvent): void {
    this.#entries.push({ seq: this.#next++, event });
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
  }

  /** A token for "now": reading it later returns what happened after this call. */
  currentToken(): string {
    return `${this.#generation}:${this.#next - 1}`;
  }

  /** The events after `token`, or undefined when the token is unknown or expired. */
  since(token: string): DirectoryEvent[] | undefined {
    const m = /^(\d+):(\d+)$/.exec(token);
    if (!m || Number(m[1]) !== this.#generation) return undefined;
    const seq = Number(m[2]);
    if (seq >= this.#next) return undefined;
    const oldest = this.#entries[0]?.seq ?? this.#next;
    // Events between the token and the oldest kept one were dropped: the token can no longer answer.
    if (seq + 1 < oldest) return undefined;
    return this.#entries.filter((e) => e.seq > seq).map((e) => e.event);
  }

  /** Every outstanding token expires (a restart, a directory re-sync, or the admin knob). */
  expireTokens(): void {
    this.#generation = Math.max(Date.now(), this.#generation + 1);
    this.#entries = [];
  }
}
