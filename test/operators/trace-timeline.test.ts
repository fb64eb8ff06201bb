import { timelineOf } from '../../operators/trace-timeline.js';

describe('trace timeline', () => {
  it('at one millisecond orders what happened in the order it happens: plan, enqueue, audit, link, the job\'s end', () => {
    const t = 1_764_500_000_000;
    const events = timelineOf({
      plans: [{ planId: 'p1', target: 'entra', planStatus: 'applied', planCreatedAt: t, action: 'create' }],
      jobs: [{ queue: 'entra', id: 'j1', name: 'push-user', state: 'completed', attemptsMade: 1, attempts: 5, createdAt: t, finishedOn: t, data: {}, via: ['audit'] }],
      audit: [{ id: '1-0', time: t, target: 'entra', operation: 'create', resource: 'user', subject: 'u1', status: 'succeeded', attempt: 1, durationMs: 0, jobId: 'j1' }],
      links: [{ target: 'entra', linked: true, remoteId: 'r1', remoteName: 'u1@contoso.com', writtenHash: true, readHash: false, version: 1, updatedAt: t }],
    });
    expect(events.map((e) => `${e.source} ${e.text}`)).toEqual([
      'plan plan p1 (applied): create',
      'job push-user job j1 enqueued',
      'audit create succeeded (attempt 1, 0 ms, job j1)',
      'link last updated: u1@contoso.com (r1), version 1',
      'job push-user job j1 completed after 1 of 5 attempts',
    ]);
    // Time comes first: an end a millisecond earlier than an audit entry is shown before it.
    const earlier = timelineOf({
      plans: [],
      jobs: [{ queue: 'entra', id: 'j2', name: 'push-user', state: 'failed', attemptsMade: 1, attempts: 1, createdAt: t - 5, finishedOn: t - 1, failedReason: 'refused', data: {}, via: [] }],
      audit: [{ id: '2-0', time: t, target: 'entra', operation: 'upsert', resource: 'user', subject: 'u2', status: 'failed', attempt: 1, durationMs: 3, error: 'refused' }],
      links: [],
    });
    expect(earlier.map((e) => e.source)).toEqual(['job', 'job', 'audit']);
  });
});
