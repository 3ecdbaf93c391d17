import { Client } from 'ldapts';

export interface LdapSettings {
  url: string;
  bindDn?: string;
  bindPassword?: string;
  baseDn: string;
  /** `{username}` is replaced by the escaped login name. */
  userFilter: string;
  usernameAttribute: string;
  emailAttribute: string;
  displayNameAttribute: string;
  groupBaseDn?: string;
  /** `{dn}` is replaced by the escaped user DN, `{username}` by the login name. */
  groupFilter: string;
  groupNameAttribute: string;
  startTls: boolean;
  tlsRejectUnauthorized: boolean;
  timeoutMs: number;
}

export interface LdapUser {
  dn: string;
  username: string;
  email: string | null;
  displayName: string | null;
  groups: Array<{ dn: string; name: string }>;
}

/** RFC 4515 §3: characters that must be escaped in a filter value. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * An LDAP directory: finds a user with the service account, proves the password with a bind
 * as that user, and reads the user's groups. Every call uses fresh connections (logins are
 * rare next to registry traffic; pooled binds would keep credentials on sockets).
 */
export class LdapDirectory {
  constructor(private readonly settings: LdapSettings) {}

  private async connect(): Promise<Client> {
    // ldapts speaks TLS from the first byte whenever tlsOptions is given: only for ldaps://.
    const client = new Client({
      url: this.settings.url,
      timeout: this.settings.timeoutMs,
      connectTimeout: this.settings.timeoutMs,
      ...(this.settings.url.startsWith('ldaps://') ? { tlsOptions: { rejectUnauthorized: this.settings.tlsRejectUnauthorized } } : {}),
    });
    if (this.settings.startTls) await client.startTLS({ rejectUnauthorized: this.settings.tlsRejectUnauthorized });
    return client;
  }

  private async withServiceBind<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      if (this.settings.bindDn) await client.bind(this.settings.bindDn, this.settings.bindPassword ?? '');
      return await work(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** The user when the password is right; undefined when the user is unknown or the password wrong. */
  async authenticate(username: string, password: string): Promise<LdapUser | undefined> {
    // An empty password would be an "unauthenticated bind", which many servers accept.
    if (password === '') return undefined;
    const found = await this.findUser(username);
    if (!found) return undefined;
    const client = await this.connect();
    try {
      await client.bind(found.dn, password);
    } catch {
      return undefined;
    } finally {
      await client.unbind().catch(() => undefined);
    }
    return { ...found, groups: await this.groupsOf(found.dn, found.username) };
  }

  async findUser(username: string): Promise<Omit<LdapUser, 'groups'> | undefined> {
    const s = this.settings;
    return this.withServiceBind(async (client) => {
      const { searchEntries } = await client.search(s.baseDn, {
        scope: 'sub',
        filter: s.userFilter.replaceAll('{username}', escapeFilterValue(username)),
        attributes: [s.usernameAttribute, s.emailAttribute, s.displayNameAttribute],
        sizeLimit: 2,
      });
      if (searchEntries.length !== 1) return undefined;
      const entry = searchEntries[0]!;
      return {
        dn: entry.dn,
        username: first(entry[s.usernameAttribute]) ?? username,
        email: first(entry[s.emailAttribute]) ?? null,
        displayName: first(entry[s.displayNameAttribute]) ?? null,
      };
    });
  }

  async groupsOf(dn: string, username: string): Promise<Array<{ dn: string; name: string }>> {
    const s = this.settings;
    if (!s.groupBaseDn) return [];
    return this.withServiceBind(async (client) => {
      const { searchEntries } = await client.search(s.groupBaseDn!, {
        scope: 'sub',
        filter: s.groupFilter.replaceAll('{dn}', escapeFilterValue(dn)).replaceAll('{username}', escapeFilterValue(username)),
        attributes: [s.groupNameAttribute],
        sizeLimit: 1000,
      });
      return searchEntries.map((e) => ({ dn: e.dn, name: first(e[s.groupNameAttribute]) ?? e.dn }));
    });
  }
}

function first(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length > 0 ? String(value[0]) : undefined;
  if (value === undefined || value === null) return undefined;
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}
