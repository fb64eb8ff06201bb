// /user, /user/rename, /user/password, /user/attribute, /user/mail/*, /authentication
// (reference §4; messages and statuses from Crowd 5.1.6 ApplicationServiceGeneric and mappers).
import type { Handler, RequestContext } from '../context.js';
import { userAttributesRep, userRep, userUri } from '../entities.js';
import { readUser } from '../entity-input.js';
import { CrowdError, illegalArgument, userNotFound } from '../errors.js';
import { readAttributes, readPassword, readRename } from '../input.js';
import { expands, requireParam } from '../params.js';
import { hashPassword, verifyPassword } from '../password.js';
import type { UserRecord } from '../store.js';
import { checkUserName, populateNames, storeAttributes, truncate } from '../user-rules.js';

/** The user named by `?username=` (404 USER_NOT_FOUND when absent: it is in the URL). */
export function userFromQuery(ctx: RequestContext, param = 'username'): UserRecord {
  const name = requireParam(ctx, param);
  const user = ctx.store.getUser(name);
  if (!user) throw userNotFound(name);
  return user;
}

function checkPasswordPolicy(ctx: RequestContext, password: string): void {
  if (password.length < ctx.faults.passwordMinLength) {
    throw new CrowdError(
      'INVALID_CREDENTIAL',
      `The new password does not meet the directory complexity requirements: at least ${ctx.faults.passwordMinLength} characters`,
    );
  }
}

// The internal directory records these whenever it stores a new password.
function setPassword(ctx: RequestContext, user: UserRecord, password: string | null): void {
  user.passwordHash = password === null ? null : hashPassword(password);
  ctx.store.touchUser(user);
  if (password !== null) {
    user.attributes.set('passwordLastChanged', [String(user.updatedDate)]);
    user.attributes.set('requiresPasswordChange', ['false']);
  }
}

export const getUser: Handler = (ctx) => {
  const username = ctx.query.get('username');
  const key = ctx.query.get('key');
  let user: UserRecord | undefined;
  if (username !== null) {
    user = ctx.store.getUser(username);
    if (!user) throw userNotFound(username);
  } else if (key !== null) {
    user = ctx.store.getUserByKey(key);
    if (!user) throw new CrowdError('USER_NOT_FOUND', `User <externalId=${key.slice(key.indexOf(':') + 1)}> does not exist`);
  } else {
    throw illegalArgument('Either username or key query parameter must be present');
  }
  return { status: 200, rep: userRep(ctx.render, user, expands(ctx).has('attributes')) };
};

export const createUser: Handler = (ctx) => {
  const input = readUser(ctx);
  const name = checkUserName(input.name);
  if (input.password === null && input.encryptedPassword === null && !ctx.faults.allowPasswordlessCreate) {
    throw illegalArgument('User password must be given');
  }
  if (ctx.store.getUser(name)) throw new CrowdError('INVALID_USER', 'User already exists');
  if (input.password !== null) checkPasswordPolicy(ctx, input.password);
  const names = populateNames(name, input.firstName, input.lastName, input.displayName);
  const attributes = new Map<string, string[]>();
  if (input.attributes) storeAttributes(attributes, input.attributes);
  const user = ctx.store.addUser({
    name,
    firstName: truncate(names.firstName),
    lastName: truncate(names.lastName),
    displayName: truncate(names.displayName),
    email: truncate(input.email),
    active: input.active ?? true,
    passwordHash: input.encryptedPassword,
    attributes,
  });
  if (input.password !== null) {
    user.passwordHash = hashPassword(input.password);
    user.attributes.set('passwordLastChanged', [String(user.createdDate)]);
    user.attributes.set('requiresPasswordChange', ['false']);
  }
  return {
    status: 201,
    headers: { Location: userUri(ctx.render, user.name) },
    rep: userRep(ctx.render, user, true),
  };
};

export const updateUser: Handler = (ctx) => {
  const username = requireParam(ctx, 'username');
  const input = readUser(ctx);
  if (input.name === null || input.name.toLowerCase() !== username.toLowerCase()) {
    throw illegalArgument(`The names of the resource location <${username}> and object <${input.name}> are not equal`);
  }
  const user = ctx.store.getUser(username);
  if (!user) throw userNotFound(username);
  const email = truncate(input.email);
  if (!ctx.settings.allowEmailChange && (email ?? '').toLowerCase() !== (user.email ?? '').toLowerCase()) {
    throw new CrowdError('APPLICATION_PERMISSION_DENIED', 'External applications are not allowed to change user emails');
  }
  // Full replace: omitted fields are recomputed, never kept.
  const names = populateNames(user.name, input.firstName, input.lastName, input.displayName);
  user.firstName = truncate(names.firstName);
  user.lastName = truncate(names.lastName);
  user.displayName = truncate(names.displayName);
  user.email = email;
  user.active = input.active ?? true;
  ctx.store.touchUser(user);
  return { status: 204 };
};

export const deleteUser: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  ctx.store.removeUser(user);
  return { status: 204 };
};

// Jersey reads the entity before the resource method runs, so body errors come first.
export const renameUser: Handler = (ctx) => {
  const newName = readRename(ctx);
  const user = userFromQuery(ctx);
  if (newName === null) throw illegalArgument('new-name must be given');
  checkUserName(newName);
  const clash = ctx.store.getUser(newName);
  if (clash && clash !== user) {
    if (ctx.faults.renameConflictAs500) throw new CrowdError('OPERATION_FAILED', `User ${newName} already exists.`);
    throw new CrowdError('INVALID_USER', `User ${newName} already exists.`);
  }
  ctx.store.renameUser(user, newName);
  ctx.store.touchUser(user);
  return { status: 200, rep: userRep(ctx.render, user, expands(ctx).has('attributes')) };
};

export const updatePassword: Handler = (ctx) => {
  const password = readPassword(ctx);
  const user = userFromQuery(ctx);
  if (password === null) throw new CrowdError('INVALID_CREDENTIAL', 'Password value must be given');
  checkPasswordPolicy(ctx, password);
  setPassword(ctx, user, password);
  return { status: 204 };
};

export const deletePassword: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  setPassword(ctx, user, null);
  return { status: 204 };
};

export const getUserAttributes: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  return { status: 200, rep: userAttributesRep(ctx.render, user) };
};

export const storeUserAttributes: Handler = (ctx) => {
  const attributes = readAttributes(ctx);
  const user = userFromQuery(ctx);
  storeAttributes(user.attributes, attributes);
  ctx.store.touchUser(user);
  return { status: 204 };
};

export const deleteUserAttribute: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  const attribute = requireParam(ctx, 'attributename');
  if (user.attributes.delete(attribute)) ctx.store.touchUser(user);
  return { status: 204 };
};

export const mailPassword: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  if (!user.email || !user.email.includes('@')) {
    throw new CrowdError('INVALID_EMAIL', `User <${user.name}> does not have a valid email address`);
  }
  return { status: 204 };
};

export const mailUsernames: Handler = (ctx) => {
  const email = ctx.query.get('email');
  if (email === null || !email.includes('@')) throw new CrowdError('INVALID_EMAIL', `Invalid email address: ${email ?? ''}`);
  return { status: 204 };
};

/** POST /authentication: the user is named in the URL, yet an unknown user is a 400 here. */
export const authenticate: Handler = (ctx) => {
  const username = requireParam(ctx, 'username');
  const password = readPassword(ctx);
  const user = ctx.store.getUser(username);
  if (!user) throw userNotFound(username, 400);
  if (!user.active) throw new CrowdError('INACTIVE_ACCOUNT', `Account with name <${user.name}> is inactive`);
  if (password === null || !verifyPassword(user.passwordHash, password)) {
    throw new CrowdError('INVALID_USER_AUTHENTICATION', 'Failed to authenticate principal, password was invalid');
  }
  return { status: 200, rep: userRep(ctx.render, user, expands(ctx).has('attributes')) };
};
