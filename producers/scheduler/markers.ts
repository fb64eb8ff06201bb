import type { Redis } from 'ioredis';

/**
 * The last slot each schedule enqueued, as `<prefix>:schedule:<name>:last` = slot epoch
 * milliseconds. It outlives the job (completed jobs are removed), so a slot is never enqueued
 * twice, and it only moves forward, so a late or replayed tick for an older slot is a no-op.
 * The key carries no TTL: its absence is what tells a first start from a restart.
 */

export type ClaimOutcome =
  /** This caller moved the marker to the slot and must enqueue it. */
  | { claimed: true; previous: string | undefined }
  /** The slot (or a later one) was already taken. */
  | { claimed: false; recorded: false }
  /** First start: the slot was recorded without being claimed for enqueueing. */
  | { claimed: false; recorded: true };

// ARGV[1] = slot ms; ARGV[2] = 'record' on a first start records the slot instead of claiming it.
const CLAIM = `
local last = redis.call('GET', KEYS[1])
if last and tonumber(last) >= tonumber(ARGV[1]) then return {0, last} end
redis.call('SET', KEYS[1], ARGV[1])
if not last and ARGV[2] == 'record' then return {2, ''} end
return {1, last or ''}
`;

// Undoes a claim whose enqueue failed, unless another replica has moved on since.
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`;

export class SlotMarkers {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(name: string): string {
    return `${this.prefix}:schedule:${name}:last`;
  }

  /** Atomically claims `slot` for `name` if it is newer than the last one recorded. */
  async claim(name: string, slot: Date, options: { recordIfFirst?: boolean } = {}): Promise<ClaimOutcome> {
    const [code, previous] = (await this.redis.eval(CLAIM, 1, this.key(name), slot.getTime(), options.recordIfFirst ? 'record' : '')) as [number, string];
    if (code === 1) return { claimed: true, previous: previous || undefined };
    return { claimed: false, recorded: code === 2 };
  }

  async release(name: string, slot: Date, previous: string | undefined): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(name), slot.getTime(), previous ?? '');
  }

  /** The last slot recorded for `name`, if any. */
  async last(name: string): Promise<Date | undefined> {
    const value = await this.redis.get(this.key(name));
    return value ? new Date(Number(value)) : undefined;
  }
}
