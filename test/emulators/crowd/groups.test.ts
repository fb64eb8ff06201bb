// Groups and memberships of reference §5: both directions, direct and nested, exact codes.
import { useEmulator, xml } from './helpers.js';

describe('Crowd emulator groups', () => {
  const t = useEmulator();

  it('creates, reads, updates and deletes a group', async () => {
    const created = await t.client.createGroup('Crowd-Administrators', { description: 'admins' });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`${t.client.api}group?groupname=Crowd-Administrators`);
    expect(created.headers.get('content-type')).toBe('application/json');
    expect(created.text).toBe('');

    const got = await t.client.get('group?groupname=crowd-administrators');
    expect(got.json).toEqual({
      link: { rel: 'self', href: `${t.client.api}group?groupname=Crowd-Administrators` },
      name: 'Crowd-Administrators',
      description: 'admins',
      type: 'GROUP',
      active: true,
      expand: 'attributes',
      attributes: { link: { rel: 'self', href: `${t.client.api}group/attribute?groupname=Crowd-Administrators` }, attributes: [] },
    });

    const put = await t.client.put('group?groupname=crowd-administrators', { name: 'crowd-administrators', description: 'changed', type: 'GROUP', active: false });
    expect(put.status).toBe(200);
    expect(put.json.description).toBe('changed');
    expect(put.json.active).toBe(false);
    expect(put.json.name).toBe('Crowd-Administrators');

    expect((await t.client.put('group?groupname=crowd-administrators', { name: 'other' })).json.reason).toBe('INVALID_GROUP');
    expect((await t.client.del('group?groupname=CROWD-ADMINISTRATORS')).status).toBe(204);
    const gone = await t.client.get('group?groupname=crowd-administrators');
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ reason: 'GROUP_NOT_FOUND', message: 'Group <crowd-administrators> does not exist' });
  });

  it('refuses duplicate groups case-insensitively with 400 INVALID_GROUP', async () => {
    await t.client.createGroup('devs');
    const r = await t.client.createGroup('DEVS');
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ reason: 'INVALID_GROUP', message: 'Group already exists' });
  });

  it('serves group XML and group attributes', async () => {
    await t.client.createGroup('ops');
    expect((await t.client.post('group/attribute?groupname=ops', { attributes: [{ name: 'site', values: ['ams'] }] })).status).toBe(204);
    const r = await t.client.get('group?groupname=ops&expand=attributes', { accept: 'application/xml' });
    const g = xml.parse(r.text).group;
    expect(g['@name']).toBe('ops');
    expect(g.type).toBe('GROUP');
    expect(g.attributes.attribute['@name']).toBe('site');
    expect((await t.client.del('group/attribute?groupname=ops&attributename=site')).status).toBe(204);
    expect((await t.client.get('group/attribute?groupname=ops')).json.attributes).toEqual([]);
  });

  describe('memberships from the group side', () => {
    beforeEach(async () => {
      await t.client.createUser('Uma');
      await t.client.createGroup('Staff');
    });

    it('adds with 201 + Location, then 409 on repeat', async () => {
      const r = await t.client.post('group/user/direct?groupname=staff', { name: 'uma' });
      expect(r.status).toBe(201);
      expect(r.headers.get('location')).toBe(`${t.client.api}group/user/direct?groupname=Staff&username=Uma`);
      const again = await t.client.post('group/user/direct?groupname=STAFF', { name: 'UMA' });
      expect(again.status).toBe(409);
      expect(again.json).toEqual({
        reason: 'MEMBERSHIP_ALREADY_EXISTS',
        message: 'Membership already exists from child entity [Uma] to parent entity [Staff]',
      });
    });

    it('404s a missing group in the URL and 400s a missing user in the body', async () => {
      const noGroup = await t.client.post('group/user/direct?groupname=ghosts', { name: 'uma' });
      expect(noGroup.status).toBe(404);
      expect(noGroup.json.reason).toBe('GROUP_NOT_FOUND');
      const noUser = await t.client.post('group/user/direct?groupname=staff', { name: 'ghost' });
      expect(noUser.status).toBe(400);
      expect(noUser.json).toEqual({ reason: 'USER_NOT_FOUND', message: 'User <ghost> does not exist' });
    });

    it('checks one membership and removes with 204, then 404 MEMBERSHIP_NOT_FOUND', async () => {
      await t.client.post('group/user/direct?groupname=staff', { name: 'uma' });
      const one = await t.client.get('group/user/direct?groupname=staff&username=UMA');
      expect(one.status).toBe(200);
      expect(one.json).toEqual({ link: { rel: 'self', href: `${t.client.api}user?username=Uma` }, name: 'Uma' });
      expect((await t.client.del('group/user/direct?groupname=staff&username=uma')).status).toBe(204);
      const again = await t.client.del('group/user/direct?groupname=staff&username=uma');
      expect(again.status).toBe(404);
      expect(again.json).toEqual({ reason: 'MEMBERSHIP_NOT_FOUND', message: 'The child entity <Uma> is not a member of the parent <Staff>' });
      expect((await t.client.get('group/user/direct?groupname=staff&username=uma')).json.reason).toBe('MEMBERSHIP_NOT_FOUND');
      expect((await t.client.del('group/user/direct?groupname=staff&username=ghost')).json.reason).toBe('USER_NOT_FOUND');
      expect((await t.client.del('group/user/direct?groupname=ghosts&username=uma')).json.reason).toBe('GROUP_NOT_FOUND');
    });
  });

  describe('memberships from the user side', () => {
    beforeEach(async () => {
      await t.client.createUser('vic');
      await t.client.createGroup('Eng');
    });

    it('adds with 201 + Location, 409 on repeat, 404 user in URL, 400 group in body', async () => {
      const r = await t.client.post('user/group/direct?username=VIC', { name: 'eng' });
      expect(r.status).toBe(201);
      expect(r.headers.get('location')).toBe(`${t.client.api}user/group/direct?username=vic&groupname=Eng`);
      expect((await t.client.post('user/group/direct?username=vic', { name: 'ENG' })).status).toBe(409);
      const noUser = await t.client.post('user/group/direct?username=ghost', { name: 'eng' });
      expect(noUser.status).toBe(404);
      expect(noUser.json.reason).toBe('USER_NOT_FOUND');
      const noGroup = await t.client.post('user/group/direct?username=vic', { name: 'ghosts' });
      expect(noGroup.status).toBe(400);
      expect(noGroup.json).toEqual({ reason: 'GROUP_NOT_FOUND', message: 'Group <ghosts> does not exist' });
    });

    it('accepts the group body as XML', async () => {
      const r = await t.client.post('user/group/direct?username=vic', '<group name="eng"/>', { contentType: 'application/xml' });
      expect(r.status).toBe(201);
    });

    it('lists, checks and removes', async () => {
      await t.client.post('user/group/direct?username=vic', { name: 'eng' });
      expect(await t.client.names('user/group/direct?username=vic')).toEqual(['Eng']);
      expect((await t.client.get('user/group/direct?username=vic&groupname=eng')).json.name).toBe('Eng');
      expect((await t.client.del('user/group/direct?username=vic&groupname=eng')).status).toBe(204);
      expect((await t.client.del('user/group/direct?username=vic&groupname=eng')).status).toBe(404);
      expect((await t.client.get('user/group/direct?username=ghost')).status).toBe(404);
    });
  });

  it('lists direct members in name order with paging and expansion', async () => {
    t.em.seed(
      ['delta', 'Alpha', 'charlie', 'Bravo', 'echo'].map((name) => ({ name, email: `${name}@x.io` })),
      [{ name: 'team', users: ['delta', 'alpha', 'charlie', 'bravo', 'echo'] }],
    );
    expect(await t.client.names('group/user/direct?groupname=team')).toEqual(['Alpha', 'Bravo', 'charlie', 'delta', 'echo']);
    expect(await t.client.names('group/user/direct?groupname=team&start-index=1&max-results=2')).toEqual(['Bravo', 'charlie']);
    expect(await t.client.names('group/user/direct?groupname=team&start-index=4&max-results=2')).toEqual(['echo']);
    expect(await t.client.names('group/user/direct?groupname=team&start-index=9')).toEqual([]);
    expect(await t.client.names('group/user/direct?groupname=team&max-results=-1')).toHaveLength(5);
    const minimal = await t.client.get('group/user/direct?groupname=team&max-results=1');
    expect(minimal.json).toEqual({ expand: 'user', users: [{ link: { rel: 'self', href: `${t.client.api}user?username=Alpha` }, name: 'Alpha' }] });
    const full = await t.client.get('group/user/direct?groupname=team&max-results=1&expand=user');
    expect(full.json.users[0].email).toBe('Alpha@x.io');
    expect(full.json.users[0].attributes.attributes).toEqual([]);
  });

  it('resolves nested memberships in both directions', async () => {
    t.em.seed(
      [{ name: 'ann', groups: ['leaf'] }, { name: 'bob', groups: ['mid'] }, { name: 'cy', groups: ['top'] }],
      [{ name: 'top', childGroups: ['mid'] }, { name: 'mid', childGroups: ['leaf'] }, { name: 'leaf' }],
    );
    expect(await t.client.names('user/group/direct?username=ann')).toEqual(['leaf']);
    expect(await t.client.names('user/group/nested?username=ann')).toEqual(['leaf', 'mid', 'top']);
    expect(await t.client.names('group/user/direct?groupname=top')).toEqual(['cy']);
    expect(await t.client.names('group/user/nested?groupname=top')).toEqual(['ann', 'bob', 'cy']);
    expect(await t.client.names('group/user/nested?groupname=top&start-index=1&max-results=1')).toEqual(['bob']);
    expect((await t.client.get('group/user/nested?groupname=top&username=ann')).json.name).toBe('ann');
    expect((await t.client.get('group/user/nested?groupname=leaf&username=cy')).status).toBe(404);
    expect((await t.client.get('user/group/nested?username=ann&groupname=TOP')).json.name).toBe('top');
    expect(await t.client.names('group/child-group/direct?groupname=top')).toEqual(['mid']);
    expect(await t.client.names('group/child-group/nested?groupname=top')).toEqual(['leaf', 'mid']);
    expect(await t.client.names('group/parent-group/direct?groupname=leaf')).toEqual(['mid']);
    expect(await t.client.names('group/parent-group/nested?groupname=leaf')).toEqual(['mid', 'top']);
  });

  it('links groups with 201/409/404/400 and refuses cycles with 400 INVALID_MEMBERSHIP', async () => {
    for (const g of ['a', 'b', 'c']) await t.client.createGroup(g);
    const r = await t.client.post('group/child-group/direct?groupname=a', { name: 'b' });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`${t.client.api}group/child-group/direct?groupname=a&child-groupname=b`);
    expect((await t.client.post('group/child-group/direct?groupname=a', { name: 'B' })).status).toBe(409);
    expect((await t.client.post('group/child-group/direct?groupname=ghost', { name: 'b' })).status).toBe(404);
    expect((await t.client.post('group/child-group/direct?groupname=a', { name: 'ghost' })).status).toBe(400);
    const parent = await t.client.post('group/parent-group/direct?groupname=c', { name: 'b' });
    expect(parent.status).toBe(201);
    expect(parent.headers.get('location')).toBe(`${t.client.api}group/parent-group/direct?groupname=c&parent-groupname=b`);
    const cycle = await t.client.post('group/child-group/direct?groupname=c', { name: 'a' });
    expect(cycle.status).toBe(400);
    expect(cycle.json.reason).toBe('INVALID_MEMBERSHIP');
    expect((await t.client.post('group/child-group/direct?groupname=a', { name: 'a' })).json.reason).toBe('INVALID_MEMBERSHIP');
    expect((await t.client.get('group/child-group/direct?groupname=a&child-groupname=b')).json.name).toBe('b');
    expect((await t.client.del('group/child-group/direct?groupname=a&child-groupname=b')).status).toBe(204);
    expect((await t.client.del('group/child-group/direct?groupname=a&child-groupname=b')).json.reason).toBe('MEMBERSHIP_NOT_FOUND');
  });

  it('drops memberships with deleted users and groups', async () => {
    t.em.seed([{ name: 'wes', groups: ['g1', 'g2'] }], [{ name: 'g1', childGroups: ['g2'] }]);
    await t.client.del('group?groupname=g2');
    expect(await t.client.names('user/group/direct?username=wes')).toEqual(['g1']);
    expect(await t.client.names('group/child-group/direct?groupname=g1')).toEqual([]);
    await t.client.del('user?username=wes');
    expect(await t.client.names('group/user/direct?groupname=g1')).toEqual([]);
  });

  it('serves /group/membership as XML only', async () => {
    t.em.seed([{ name: 'xi', groups: ['parent'] }], [{ name: 'parent', childGroups: ['kid'] }]);
    expect((await t.client.get('group/membership')).status).toBe(406);
    const r = await t.client.get('group/membership', { accept: 'application/xml' });
    expect(r.status).toBe(200);
    expect(r.text).toBe(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><memberships>' +
        '<membership group="kid"><users/><groups/></membership>' +
        '<membership group="parent"><users><user name="xi"/></users><groups><group name="kid"/></groups></membership>' +
        '</memberships>',
    );
  });
});
