// Test OpenID Provider for the end-to-end tests of oidc-layer (tests/src/lib.rs starts it).
// Built on oidc-provider (panva, OpenID Certified), pinned to 9.13.3 by package-lock.json.
// Listens on loopback only. All state is in memory (lost on restart).
//
//   npm ci --prefix tests/provider
//   OP_PORT=0 node tests/provider/op.mjs      # prints `OP_READY {json}` on stdout once listening
//
// Environment (all optional):
//   OP_HOST                      bind address               (127.0.0.1)
//   OP_PORT                      port; 0 = pick a free one  (9400)
//   OP_ISSUER                    issuer URL; must be the exact origin the RP uses (http://OP_HOST:OP_PORT)
//   OP_CLIENT_ID / OP_CLIENT_SECRET                          (test-client / test-secret)
//   OP_REDIRECT_URIS             comma list                 (http://127.0.0.1:3000/auth/oidc)
//   OP_POST_LOGOUT_REDIRECT_URIS comma list                 (http://127.0.0.1:3000/,http://127.0.0.1:3000/logged-out)
//   OP_BACKCHANNEL_LOGOUT_URI    enables back-channel logout for the client when set
//   OP_EXTRA_CLIENTS             JSON array of more clients, e.g. a second app on the same host:
//                                [{client_id, client_secret, redirect_uris, post_logout_redirect_uris}],
//                                otherwise like the first client (without back-channel logout
//                                unless given: backchannel_logout_uri, ..._session_required) ([])
//   OP_RP_LOGOUT                 0 = no RP-initiated logout: no end_session_endpoint in discovery (Authelia-like) (1)
//   OP_ACCESS_TOKEN_TTL          seconds                    (300)
//   OP_ID_TOKEN_TTL              seconds                    (3600)
//   OP_REFRESH_TOKEN_TTL         seconds                    (86400)
//   OP_SESSION_TTL               seconds                    (86400)
//   OP_REFRESH                   'always' (any code grant gets a refresh token) or 'offline_access' ('always')
//   OP_ROTATE_REFRESH            1 = rotate on every use, 0 = library default (rotate at 70% of TTL) (1)
//   OP_REQUIRE_PKCE              1 = reject authorization requests without code_challenge (0)
//   OP_SKIP_CONSENT              1 = grant every requested scope silently after login (0)
//   OP_CLOCK_TOLERANCE           seconds of leeway when checking token expiry (0; library default 15)
//   OP_USERS_FILE                JSON array of users, same shape as DEFAULT_USERS below
//   OP_EXTRA_GROUP_CLAIMS        comma list of more claims the `groups` scope releases, for users files with
//                                provider-specific role claims (resource_access, urn:zitadel:iam:org:project:roles)
//   OP_JWKS_FILE                 JSON {keys:[...private JWKs]}; default: a fresh RSA key (and, with
//                                OP_RESOURCE_SERVERS, a fresh P-256 key) per start (the Rust harness
//                                passes test-signing-key.jwks.json: fixed, test-only, one RSA + one P-256 key)
//   OP_RESOURCE_SERVERS          1 = resource indicators (RFC 8707) for three APIs, scopes `api:read api:write`,
//                                audience = the indicator (0: no API; any `resource` is invalid_target):
//                                  https://api.test/rs256   JWT access tokens (RFC 9068, typ at+jwt), RS256
//                                  https://api.test/es256   JWT access tokens, ES256 (needs a P-256 key)
//                                  https://api.test/opaque  opaque access tokens, for introspection
//                                A user's API token carries the claims the grant's OIDC scopes release
//                                (preferred_username, email, groups...), like an ID token; a machine
//                                token (client credentials) has sub = client_id and no user claims.
//                                Their lifetime is OP_ACCESS_TOKEN_TTL.
//   OP_MACHINE_CLIENTS           comma list of id:secret: clients for the client_credentials grant only
//                                (client_secret_basic or _post); enables the grant when set ('')
//   OP_DPOP                      0 = no DPoP (RFC 9449) at the token endpoint; 1 = the library default: a
//                                `DPoP` proof header at /token binds the access token to its key (cnf.jkt) (1)
//   OP_LOG_REQUESTS              1 = one stderr line per request: method, path (never the query), status (0)
//   OP_IGNORE_MAX_AGE            1 = drop `max_age` from authorization requests before the library sees them: a
//                                provider that ignores it and reuses an old sign-in; ID tokens always carry auth_time (0)
//   OP_EXIT_ON_STDIN_EOF         1 = exit when stdin closes, so a killed test run leaves no orphan (0)
//   OP_COOKIE_KEY                key used to sign cookies   (dev-cookie-key)
//   OP_LOG_SUCCESS               0 = log only the error events (grant, authorization, back-channel), not the successes (1)
//   OP_STATE_FILE                keep grants, tokens and sessions in this JSON file across restarts (read at
//                                start, written on SIGTERM/SIGINT after in-flight requests end), with no
//                                size bound; unset: the library's in-memory LRU of 1000 entries (the soak)
//   DEBUG=oidc-provider:*        library debug logging
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';
import { StateStore } from './state_adapter.mjs';

const t0 = process.hrtime.bigint();
const env = process.env;
const HOST = env.OP_HOST || '127.0.0.1';
// Listen first so that OP_PORT=0 (ephemeral port, handy for parallel tests) can go into the issuer.
const server = createServer();
await new Promise((resolve, reject) => server.once('error', reject).listen(Number(env.OP_PORT ?? 9400), HOST, resolve));
const PORT = server.address().port;
const ISSUER = env.OP_ISSUER || `http://${HOST}:${PORT}`;
const list = (v, d) => (v || d).split(',').map((s) => s.trim()).filter(Boolean);
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const flag = (v, d) => (v === undefined || v === '' ? d : v === '1' || v === 'true');

const CLIENT_ID = env.OP_CLIENT_ID || 'test-client';
const CLIENT_SECRET = env.OP_CLIENT_SECRET || 'test-secret';
const REDIRECT_URIS = list(env.OP_REDIRECT_URIS, 'http://127.0.0.1:3000/auth/oidc');
const POST_LOGOUT_REDIRECT_URIS = list(env.OP_POST_LOGOUT_REDIRECT_URIS, 'http://127.0.0.1:3000/,http://127.0.0.1:3000/logged-out');
const BACKCHANNEL_LOGOUT_URI = env.OP_BACKCHANNEL_LOGOUT_URI || '';
const EXTRA_CLIENTS = JSON.parse(env.OP_EXTRA_CLIENTS || '[]');
const RP_LOGOUT = flag(env.OP_RP_LOGOUT, true);
const ACCESS_TOKEN_TTL = num(env.OP_ACCESS_TOKEN_TTL, 300);
const ID_TOKEN_TTL = num(env.OP_ID_TOKEN_TTL, 3600);
const REFRESH_TOKEN_TTL = num(env.OP_REFRESH_TOKEN_TTL, 86400);
const SESSION_TTL = num(env.OP_SESSION_TTL, 86400);
const REFRESH_ALWAYS = (env.OP_REFRESH || 'always') === 'always';
const ROTATE_REFRESH = flag(env.OP_ROTATE_REFRESH, true);
const REQUIRE_PKCE = flag(env.OP_REQUIRE_PKCE, false);
const SKIP_CONSENT = flag(env.OP_SKIP_CONSENT, false);
const CLOCK_TOLERANCE = num(env.OP_CLOCK_TOLERANCE, 0);
const EXTRA_GROUP_CLAIMS = list(env.OP_EXTRA_GROUP_CLAIMS, '');
const RESOURCE_SERVERS = flag(env.OP_RESOURCE_SERVERS, false);
const MACHINE_CLIENTS = list(env.OP_MACHINE_CLIENTS, '').map((pair) => {
  const at = pair.indexOf(':');
  if (at <= 0) throw new Error(`OP_MACHINE_CLIENTS: expected id:secret, got ${pair}`);
  return { client_id: pair.slice(0, at), client_secret: pair.slice(at + 1) };
});
const DPOP = flag(env.OP_DPOP, true);
const IGNORE_MAX_AGE = flag(env.OP_IGNORE_MAX_AGE, false);
// The authorization parameters the login and consent pages show (`<pre id="auth-params">`), so
// tests can check what arrived at the provider. `audience` (Auth0's) is accepted as an extra.
const SHOWN_PARAMS = ['audience', 'ui_locales', 'acr_values', 'login_hint', 'max_age', 'prompt'];

// ---- test users --------------------------------------------------------
// `sub` is deliberately different from the login name. `is_admin` is the custom boolean claim.
const DEFAULT_USERS = [
  {
    username: 'alice', password: 'alice-password',
    claims: {
      sub: 'u-1001-alice', email: 'alice@example.test', email_verified: true,
      preferred_username: 'alice', name: 'Alice Anders', given_name: 'Alice', family_name: 'Anders',
      groups: ['admins', 'users'], is_admin: true,
    },
  },
  {
    username: 'bob', password: 'bob-password',
    claims: {
      sub: 'u-1002-bob', email: 'bob@example.test', email_verified: false,
      preferred_username: 'bob', name: 'Bob Brown', given_name: 'Bob', family_name: 'Brown',
      groups: ['users'], is_admin: false,
    },
  },
  {
    username: 'carol', password: 'carol-password',
    claims: {
      sub: 'u-1003-carol', email: 'carol@example.test', email_verified: true,
      preferred_username: 'carol', name: 'Carol Chen', given_name: 'Carol', family_name: 'Chen',
      groups: [], is_admin: false,
    },
  },
];
const USERS = env.OP_USERS_FILE ? JSON.parse(readFileSync(env.OP_USERS_FILE, 'utf8')) : DEFAULT_USERS;
const bySub = new Map(USERS.map((u) => [u.claims.sub, u]));
const byName = new Map(USERS.map((u) => [u.username, u]));

// ---- signing keys --------------------------------------------------------
function makeJwks() {
  if (env.OP_JWKS_FILE) return JSON.parse(readFileSync(env.OP_JWKS_FILE, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const keys = [{ ...jwk, kid: `test-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'RS256' }];
  if (RESOURCE_SERVERS) {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    keys.push({ ...ec, kid: `test-ec-${randomUUID().slice(0, 8)}`, use: 'sig', alg: 'ES256' });
  }
  return { keys };
}

// ---- resource servers (APIs) ------------------------------------------------
// RFC 8707 resource indicators -> what the access token for that API looks like. The audience
// is the indicator itself (getResourceServerInfo may not name another one: that would be a
// confusing test provider).
const API_SCOPE = 'api:read api:write';
const APIS = {
  'https://api.test/rs256': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  'https://api.test/es256': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  'https://api.test/opaque': { accessTokenFormat: 'opaque' },
};

// ---- client --------------------------------------------------------------
const client = {
  client_id: CLIENT_ID,
  client_secret: CLIENT_SECRET,
  client_name: 'Test RP',
  application_type: 'web',
  token_endpoint_auth_method: 'client_secret_basic', // client_secret_post also accepted below
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: REDIRECT_URIS,
  ...(RP_LOGOUT ? { post_logout_redirect_uris: POST_LOGOUT_REDIRECT_URIS } : {}),
  id_token_signed_response_alg: 'RS256',
  // A provider that ignores max_age still says when the user signed in.
  ...(IGNORE_MAX_AGE ? { require_auth_time: true } : {}),
};
// Copied from the first client before its back-channel logout settings are added.
const extraClients = EXTRA_CLIENTS.map((extra) => ({ ...client, client_name: `Test RP ${extra.client_id}`, ...extra }));
// Programs without a user: the client_credentials grant and nothing else.
const machineClients = MACHINE_CLIENTS.map(({ client_id, client_secret }) => ({
  client_id,
  client_secret,
  client_name: `Machine ${client_id}`,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
}));
if (BACKCHANNEL_LOGOUT_URI) {
  client.backchannel_logout_uri = BACKCHANNEL_LOGOUT_URI;
  client.backchannel_logout_session_required = true;
}

const stateStore = env.OP_STATE_FILE ? new StateStore(env.OP_STATE_FILE) : undefined;

const configuration = {
  ...(stateStore ? { adapter: stateStore.adapter() } : {}),
  clients: [client, ...extraClients, ...machineClients],
  jwks: makeJwks(),
  cookies: {
    keys: [env.OP_COOKIE_KEY || 'dev-cookie-key'],
    // Cookies are not isolated by port: RP and OP on 127.0.0.1 share one cookie jar in the browser,
    // so use names the RP will not use (defaults are _session, _interaction, _interaction_resume).
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
  },

  // Which claims exist and which scope releases them. Claims outside a granted scope are filtered out.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    groups: ['groups', 'is_admin', ...EXTRA_GROUP_CLAIMS],
  },
  // false = scope-requested claims also go into the ID token (not only /me userinfo).
  conformIdTokenClaims: false,

  async findAccount(ctx, sub) {
    const user = bySub.get(sub);
    if (!user) return undefined;
    return { accountId: sub, async claims() { return { ...user.claims }; } };
  },

  features: {
    devInteractions: { enabled: false }, // replaced by the /interaction handlers below
    rpInitiatedLogout: { enabled: RP_LOGOUT },
    backchannelLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    clientCredentials: { enabled: machineClients.length > 0 },
    dPoP: { enabled: DPOP },
    resourceIndicators: {
      enabled: true,
      // Unknown indicators (and every indicator without OP_RESOURCE_SERVERS): invalid_target.
      async getResourceServerInfo(ctx, resourceIndicator) {
        const api = RESOURCE_SERVERS ? APIS[resourceIndicator] : undefined;
        if (!api) throw new errors.InvalidTarget();
        return { ...api, scope: API_SCOPE, audience: resourceIndicator, accessTokenTTL: ACCESS_TOKEN_TTL };
      },
    },
  },
  // A user's API token carries the user's claims that the grant's OIDC scopes release, as
  // Keycloak or Authentik put them into access tokens; machine tokens and the userinfo-only
  // tokens of the login flow carry none.
  async extraTokenClaims(ctx, token) {
    if (!token.resourceServer || !token.accountId) return undefined;
    const user = bySub.get(token.accountId);
    const grant = token.grantId ? await ctx.oidc.provider.Grant.find(token.grantId) : undefined;
    if (!user || !grant) return undefined;
    const released = {};
    for (const scope of (grant.getOIDCScope() || '').split(' ')) {
      for (const claim of configuration.claims[scope] || []) {
        if (claim !== 'sub' && user.claims[claim] !== undefined) released[claim] = user.claims[claim];
      }
    }
    return released;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  extraParams: ['audience'],

  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  // Library default is 15 s: opaque access tokens keep working at /me for 15 s past exp.
  clockTolerance: CLOCK_TOLERANCE,
  pkce: { required: () => REQUIRE_PKCE },

  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: ID_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
    Interaction: 600,
    Session: SESSION_TTL,
    Grant: SESSION_TTL > REFRESH_TOKEN_TTL ? SESSION_TTL : REFRESH_TOKEN_TTL,
  },

  async issueRefreshToken(ctx, c, code) {
    if (!c.grantTypeAllowed('refresh_token')) return false;
    return REFRESH_ALWAYS || code.scopes.has('offline_access');
  },
  ...(ROTATE_REFRESH ? { rotateRefreshToken: true } : {}),

  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (!SKIP_CONSENT) return grant;
    grant ||= new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.account.accountId,
    });
    const scopes = [...ctx.oidc.requestParamOIDCScopes];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers || {})) {
      const wanted = [...ctx.oidc.requestParamScopes].filter((s) => server.scopes.has(s));
      if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
    }
    await grant.save();
    return grant;
  },

  // Outbound calls (back-channel logout POSTs). The library's default dispatcher refuses
  // loopback/private addresses (SSRF guard); a test listener on 127.0.0.1 needs it dropped.
  fetch(url, options) {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },

  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>oops</h1><pre id="error">${esc(JSON.stringify(out, null, 2))}</pre></body></html>`;
  },
};

const provider = new Provider(ISSUER, configuration);
// provider.proxy = true; // only when behind a TLS-terminating proxy that sets X-Forwarded-*

// ---- minimal HTML interactions (login + consent) -------------------------
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}
function shownParams(params, reasons) {
  const seen = Object.fromEntries(SHOWN_PARAMS.filter((k) => params?.[k] !== undefined).map((k) => [k, String(params[k])]));
  // Why the provider shows this page (e.g. `max_age`, `login_prompt`, `no_session`).
  return `<pre id="auth-params">${esc(JSON.stringify(seen))}</pre><p id="prompt-reasons">${esc((reasons || []).join(' '))}</p>`;
}
function loginForm(uid, clientId, error, loginHint, params, reasons) {
  return page('Sign-in', `${error ? `<p id="error" class="error">${esc(error)}</p>` : ''}
<p>Client: <code>${esc(clientId)}</code></p>${shownParams(params, reasons)}
<form id="login" method="post" action="/interaction/${esc(uid)}/login">
  <input type="text" name="username" value="${esc(loginHint || '')}" autofocus>
  <input type="password" name="password">
  <button type="submit">Sign-in</button>
</form>
<a id="abort" href="/interaction/${esc(uid)}/abort">Cancel</a>`);
}
function consentForm(uid, clientId, details, params, reasons) {
  const scopes = details.missingOIDCScope || [];
  const claims = details.missingOIDCClaims || [];
  return page('Authorize', `${shownParams(params, reasons)}<p>Client <code>${esc(clientId)}</code> asks for scopes:
<span id="scopes">${esc(scopes.join(' '))}</span> ${claims.length ? `claims: <span id="claims">${esc(claims.join(' '))}</span>` : ''}</p>
<form id="consent" method="post" action="/interaction/${esc(uid)}/confirm">
  <button type="submit">Continue</button>
</form>
<a id="abort" href="/interaction/${esc(uid)}/abort">Cancel</a>`);
}
async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) { size += c.length; if (size > 64 * 1024) throw new Error('body too large'); chunks.push(c); }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

if (IGNORE_MAX_AGE) {
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && ctx.querystring.includes('max_age')) {
      const query = new URLSearchParams(ctx.querystring);
      query.delete('max_age');
      ctx.querystring = query.toString();
    }
    return next();
  });
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;
provider.use(async (ctx, next) => {
  const m = INTERACTION.exec(ctx.path);
  if (!m) return next();
  const [, uid, action] = m;
  ctx.set('cache-control', 'no-store');
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      // The op_interaction cookie (path /interaction/<uid>) was not sent, or the interaction expired.
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Interaction not found', '<p id="error">interaction session not found (cookie missing or expired)</p>');
      return undefined;
    }
    throw err;
  }
  if (details.uid !== uid) ctx.throw(400, 'interaction uid mismatch');
  const { prompt, params } = details;
  const finish = async (result, merge) => {
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.status = 303;
    ctx.redirect(to);
  };

  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    if (prompt.name === 'login') ctx.body = loginForm(uid, params.client_id, undefined, params.login_hint, params, prompt.reasons);
    else if (prompt.name === 'consent') ctx.body = consentForm(uid, params.client_id, prompt.details, params, prompt.reasons);
    else ctx.throw(501, `prompt ${prompt.name} not implemented`);
    return undefined;
  }
  if (ctx.method === 'GET' && action === 'abort') {
    return finish({ error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  }
  if (ctx.method === 'POST' && action === 'login') {
    if (prompt.name !== 'login') ctx.throw(400, `expected prompt login, got ${prompt.name}`);
    const form = await readForm(ctx.req);
    const user = byName.get(form.username);
    if (!user || user.password !== form.password) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, params.client_id, 'Invalid username or password.', form.username, params, prompt.reasons);
      return undefined;
    }
    return finish({ login: { accountId: user.claims.sub, amr: ['pwd'], remember: true } }, false);
  }
  if (ctx.method === 'POST' && action === 'confirm') {
    if (prompt.name !== 'consent') ctx.throw(400, `expected prompt consent, got ${prompt.name}`);
    await readForm(ctx.req);
    const { grantId: existing, session } = details;
    const grant = existing
      ? await provider.Grant.find(existing)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scope.join(' '));
    }
    const grantId = await grant.save();
    return finish({ consent: existing ? {} : { grantId } }, true);
  }
  ctx.throw(405);
  return undefined;
});

// ---- logging -------------------------------------------------------------
const log = (...a) => console.error(new Date().toISOString(), ...a);
provider.on('server_error', (ctx, err) => log('server_error', err));
provider.on('authorization.error', (ctx, err) => log('authorization.error', err.message, err.error_description || ''));
provider.on('grant.error', (ctx, err) => log('grant.error', err.message, err.error_description || ''));
if (flag(env.OP_LOG_SUCCESS, true)) {
  provider.on('grant.success', (ctx) => log('grant.success', ctx.oidc.params.grant_type));
  provider.on('end_session.success', () => log('end_session.success'));
  provider.on('backchannel.success', (ctx, c, accountId, sid) => log('backchannel.success', c.clientId, accountId, sid));
}
provider.on('backchannel.error', (ctx, err, c) => log('backchannel.error', c.clientId, err.message, err.cause?.message || ''));

if (flag(env.OP_LOG_REQUESTS, false)) {
  // Registered last, so it wraps only the library's own routes; the /interaction handler above
  // answers before reaching it and logs nothing (its pages are visible in the test's hops anyway).
  provider.use(async (ctx, next) => {
    await next();
    log(ctx.method, ctx.path, ctx.status, ctx.status >= 300 && ctx.status < 400 ? `-> ${new URL(ctx.response.get('location'), ISSUER).pathname}` : '');
  });
}

server.on('request', provider.callback());
if (stateStore) log('state loaded', stateStore.entries.size, 'entries');
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
// One machine-readable line on stdout for test harnesses to wait on.
console.log(`OP_READY ${JSON.stringify({ issuer: ISSUER, port: PORT, pid: process.pid, startup_ms: Math.round(ms), client_id: CLIENT_ID })}`);
// A graceful stop: no new connections, in-flight requests finish (2 s at most), then the state
// file is written (a token issued by a finished request is in it) and the process exits.
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  const done = () => {
    if (stateStore) {
      try {
        stateStore.save();
        log('state saved', stateStore.entries.size, 'entries');
      } catch (err) {
        log('could not write OP_STATE_FILE:', err);
      }
    }
    process.exit(0);
  };
  server.close(done);
  server.closeIdleConnections();
  setTimeout(() => { server.closeAllConnections(); done(); }, 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (flag(env.OP_EXIT_ON_STDIN_EOF, false)) {
  // The parent holds our stdin open for as long as it wants us alive; if it dies (even by SIGKILL), EOF.
  // A graceful stop, as on SIGTERM: tokio's Child::wait closes our stdin too, so a SIGTERM is
  // often followed by this EOF, which must not cut the state file's write short.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
