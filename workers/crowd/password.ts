import { randomInt } from 'node:crypto';

/**
 * Crowd requires a password on create (2.x refuses a user without one; newer servers are
 * unconfirmed). A user created before the app sent a password gets this one: 32 random
 * characters with every character class, so directory complexity policies accept it.
 * It is never stored, logged or returned; the user gets a real password through a
 * password job or Crowd's own reset flow.
 */
export function randomPassword(): string {
  const classes = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#%*+-=?@^_~'];
  const all = classes.join('');
  const chars = classes.map((c) => c[randomInt(c.length)]!);
  while (chars.length < 32) chars.push(all[randomInt(all.length)]!);
  // Fisher–Yates, so the guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
