import { Writable } from 'node:stream';
import { createLogger } from '../../shared/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { logger: createLogger({ level: 'debug', destination: stream }), text: () => lines.join('') };
}

describe('logger redaction', () => {
  it('redacts secret-named keys wherever they sit', () => {
    const { logger, text } = capture();
    logger.info({
      password: 'p-one',
      user: { profile: { passwordProfile: { password: 'p-two' } } },
      req: { headers: { Authorization: 'Basic aWRzeW5jOnNlY3JldA==', 'x-ok': 'visible' } },
      list: [{ clientSecret: 'p-three' }, { access_token: 'p-four' }],
    }, 'hello');
    const out = text();
    for (const s of ['p-one', 'p-two', 'p-three', 'p-four', 'aWRzeW5jOnNlY3JldA']) expect(out).not.toContain(s);
    expect(out).toContain('visible');
    expect(out).toContain('[Redacted]');
  });

  it('scrubs tokens from messages, errors and child bindings', () => {
    const { logger, text } = capture();
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    logger.child({ url: 'https://app:hunter2@crowd.local/' }).error({ err: new Error(`call failed: Bearer ${jwt} password=hunter3`) }, `token ${jwt}`);
    const out = text();
    for (const s of [jwt, 'hunter2', 'hunter3']) expect(out).not.toContain(s);
  });
});
