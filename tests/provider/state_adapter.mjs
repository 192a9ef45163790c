// A storage adapter for oidc-provider whose state outlives a restart: what a provider backed
// by a database (Keycloak, Authentik...) keeps when it restarts. Used by the soak
// (scripts/soak.sh) through OP_STATE_FILE.
//
// The library's default adapter is an LRU of 1000 entries in memory: under many users it
// evicts live grants and refresh tokens (a refresh then fails with invalid_grant), and a
// restart forgets everything. This one keeps every entry until it expires, in one Map, and
// writes the Map to a JSON file when the provider stops (after its in-flight requests ended);
// the next start reads it back. Entries: `${model}:${id}` -> { payload, expiresAt (ms or
// null) }, plus the indexes the adapter API needs (session uid, grant members, user code).
import fs from 'node:fs';

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

export class StateStore {
  constructor(file) {
    this.file = file;
    this.entries = new Map(); // key -> { payload, expiresAt }
    this.uids = new Map(); // session uid -> session id
    this.userCodes = new Map(); // user code -> key's id
    this.grants = new Map(); // grant id -> Set of keys
    if (file && fs.existsSync(file)) this.load();
    // Expired entries go away on read; a sweep keeps a long run's memory flat.
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  load() {
    const saved = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    const now = Date.now();
    for (const [key, entry] of saved.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) continue;
      this.entries.set(key, entry);
      this.index(key, entry.payload);
    }
  }

  save() {
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ entries: [...this.entries] }));
    fs.renameSync(tmp, this.file);
  }

  sweep() {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.remove(key);
    }
  }

  index(key, payload) {
    const [model, ...rest] = key.split(':');
    const id = rest.join(':');
    if (model === 'Session' && payload.uid) this.uids.set(payload.uid, id);
    if (payload.userCode) this.userCodes.set(payload.userCode, id);
    if (GRANTABLE.has(model) && payload.grantId) {
      if (!this.grants.has(payload.grantId)) this.grants.set(payload.grantId, new Set());
      this.grants.get(payload.grantId).add(key);
    }
  }

  unindex(key, payload) {
    const id = key.slice(key.indexOf(':') + 1);
    if (payload.uid && this.uids.get(payload.uid) === id) this.uids.delete(payload.uid);
    if (payload.userCode && this.userCodes.get(payload.userCode) === id) this.userCodes.delete(payload.userCode);
    const members = payload.grantId && this.grants.get(payload.grantId);
    if (members) {
      members.delete(key);
      if (members.size === 0) this.grants.delete(payload.grantId);
    }
  }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      this.remove(key);
      return undefined;
    }
    return entry.payload;
  }

  set(key, payload, expiresIn) {
    const previous = this.entries.get(key);
    if (previous) this.unindex(key, previous.payload);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
    this.entries.set(key, { payload, expiresAt });
    this.index(key, payload);
  }

  remove(key) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.unindex(key, entry.payload);
  }

  revokeGrant(grantId) {
    for (const key of [...(this.grants.get(grantId) ?? [])]) this.remove(key);
    this.grants.delete(grantId);
  }

  // oidc-provider's `adapter` option: a class per model, instantiated with the model's name.
  adapter() {
    const store = this;
    return class StateAdapter {
      constructor(model) { this.model = model; }
      key(id) { return `${this.model}:${id}`; }
      async upsert(id, payload, expiresIn) { store.set(this.key(id), payload, expiresIn); }
      async find(id) { return store.get(this.key(id)); }
      async findByUid(uid) { const id = store.uids.get(uid); return id === undefined ? undefined : this.find(id); }
      async findByUserCode(code) { const id = store.userCodes.get(code); return id === undefined ? undefined : this.find(id); }
      async consume(id) { const payload = store.get(this.key(id)); if (payload) payload.consumed = Math.floor(Date.now() / 1000); }
      async destroy(id) { store.remove(this.key(id)); }
      async revokeByGrantId(grantId) { store.revokeGrant(grantId); }
    };
  }
}
