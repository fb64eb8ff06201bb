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

  it('keeps every ancestor’s bindings on a grandchild, each scrubbed', () => {
    const { logger, text } = capture();
    const child = logger.child({ queue: 'sync', url: 'https://app:hunter2@crowd.local/' });
    child.child({ jobId: 'j1' }).child({ step: 'list', token: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' }).info('deep');
    child.info('middle');
    const [deep, middle] = text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(deep).toMatchObject({ queue: 'sync', jobId: 'j1', step: 'list', msg: 'deep' });
    expect(middle).toMatchObject({ queue: 'sync', msg: 'middle' });
    // A sibling made later does not see the grandchild's bindings.
    expect(middle).not.toHaveProperty('jobId');
    expect(text()).not.toContain('hunter2');
    expect(text()).not.toContain('c2lnbmF0dXJl');
  });
});
