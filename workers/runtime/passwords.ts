import { randomInt } from 'node:crypto';

/**
 * The password of a user created before the app sent one. Both remotes refuse to create a
 * user without a password (Crowd 2.x; Graph's `POST /users` needs a passwordProfile), so
 * the connector sends this: 32 random printable ASCII characters with every character
 * class, which directory complexity rules accept (Entra's: 8–256 characters, three of four
 * classes). It is never stored, logged or returned; the user gets a real password through
 * a password job or the directory's own reset flow.
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
