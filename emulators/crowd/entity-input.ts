// User and group entities as sent by clients (POST/PUT bodies, membership bodies). Only the
// fields EntityTranslator.fromUserEntity/fromGroupEntity copy are kept; `key`, `link`, dates
// and directory fields are accepted and ignored, as on a real server.
import type { RequestContext } from './context.js';
import {
  type AttributeInput,
  attributesFromJson,
  attributesFromXml,
  checkJsonFields,
  expectRoot,
  jsonBoolean,
  jsonString,
  passwordFromJson,
  readBody,
  xmlBoolean,
} from './input.js';
import { type XmlNode, xmlText } from './xml.js';

export interface UserInput {
  name: string | null;
  firstName: string | null;
  lastName: string | null;
  displayName: string | null;
  email: string | null;
  active: boolean | null;
  password: string | null;
  encryptedPassword: string | null;
  attributes: AttributeInput[] | null;
}

export interface GroupInput {
  name: string | null;
  description: string | null;
  type: string | null;
  active: boolean | null;
  attributes: AttributeInput[] | null;
}

const USER_FIELDS = new Set([
  'expand', 'link', 'name', 'first-name', 'last-name', 'display-name', 'directory-id', 'email', 'password',
  'encrypted-password', 'key', 'created-date', 'updated-date', 'directory-name', 'active', 'attributes',
]);
const GROUP_FIELDS = new Set(['expand', 'link', 'name', 'description', 'type', 'active', 'attributes']);

export function readUser(ctx: RequestContext): UserInput {
  const parsed = readBody(ctx);
  if (parsed.format === 'json') {
    const v = parsed.value;
    checkJsonFields(v, USER_FIELDS, 'UserEntity');
    return {
      name: jsonString(v['name'], 'name') ?? null,
      firstName: jsonString(v['first-name'], 'first-name') ?? null,
      lastName: jsonString(v['last-name'], 'last-name') ?? null,
      displayName: jsonString(v['display-name'], 'display-name') ?? null,
      email: jsonString(v['email'], 'email') ?? null,
      active: jsonBoolean(v['active'], 'active') ?? null,
      password: passwordFromJson(v['password']),
      encryptedPassword: passwordFromJson(v['encrypted-password']),
      attributes: attributesFromJson(v['attributes']),
    };
  }
  expectRoot(parsed, 'user');
  const n = parsed.node;
  return {
    name: n['@name'] === undefined ? null : String(n['@name']),
    firstName: xmlText(n['first-name']) ?? null,
    lastName: xmlText(n['last-name']) ?? null,
    displayName: xmlText(n['display-name']) ?? null,
    email: xmlText(n['email']) ?? null,
    active: xmlBoolean(n['active']) ?? null,
    password: xmlText((n['password'] as XmlNode | undefined)?.['value']) ?? null,
    encryptedPassword: xmlText((n['encrypted-password'] as XmlNode | undefined)?.['value']) ?? null,
    attributes: attributesFromXml(n['attributes']),
  };
}

export function readGroup(ctx: RequestContext): GroupInput {
  const parsed = readBody(ctx);
  if (parsed.format === 'json') {
    const v = parsed.value;
    checkJsonFields(v, GROUP_FIELDS, 'GroupEntity');
    return {
      name: jsonString(v['name'], 'name') ?? null,
      description: jsonString(v['description'], 'description') ?? null,
      type: jsonString(v['type'], 'type') ?? null,
      active: jsonBoolean(v['active'], 'active') ?? null,
      attributes: attributesFromJson(v['attributes']),
    };
  }
  expectRoot(parsed, 'group');
  const n = parsed.node;
  return {
    name: n['@name'] === undefined ? null : String(n['@name']),
    description: xmlText(n['description']) ?? null,
    type: xmlText(n['type']) ?? null,
    active: xmlBoolean(n['active']) ?? null,
    attributes: attributesFromXml(n['attributes']),
  };
}
