import { randomInt } from 'node:crypto';

/**
 * `POST /users` requires a passwordProfile (reference §3.2). A user created before the app
 * sent a password, and without one from the mapping module, gets this one: 32 random
 * printable ASCII characters with every character class, which Entra's complexity rule
 * (8–256 characters, three of four classes) accepts. It is never stored, logged or
 * returned; the user gets a real password through a password job or self-service reset.
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
