import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const exec = promisify(execFile);

export const ldapBase = 'dc=berth,dc=test';
export const ldapRoot = { dn: `cn=admin,${ldapBase}`, password: 'Ldap-Root-Passw0rd' };

export interface LdapUserSpec {
  uid: string;
  password: string;
  mail: string;
  groups: string[];
}

export interface Slapd {
  url: string;
  stop(): Promise<void>;
}

/** Why slapd cannot run here, or undefined when it can. */
export function slapdUnavailable(): string | undefined {
  for (const path of ['/usr/sbin/slapd', '/usr/sbin/slapadd', '/etc/ldap/schema/core.schema']) {
    if (!existsSync(path)) return `${path} is missing (Debian: apt-get install -y slapd ldap-utils)`;
  }
  return undefined;
}

/** A real OpenLDAP server on a loopback port with a generated directory of users and groups. */
export async function startSlapd(users: LdapUserSpec[]): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-slapd-'));
  await mkdir(join(dir, 'db'));
  const config = join(dir, 'slapd.conf');
  await writeFile(
    config,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      `pidfile ${join(dir, 'slapd.pid')}`,
      `argsfile ${join(dir, 'slapd.args')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      `suffix "${ldapBase}"`,
      `rootdn "${ldapRoot.dn}"`,
      `rootpw ${ldapRoot.password}`,
      `directory ${join(dir, 'db')}`,
      'maxsize 104857600',
      'access to attrs=userPassword by anonymous auth by self write by * none',
      'access to * by * read',
      '',
    ].join('\n'),
  );
  const groups = [...new Set(users.flatMap((u) => u.groups))];
  const entries = [
    `dn: ${ldapBase}\nobjectClass: dcObject\nobjectClass: organization\ndc: berth\no: Berth test\n`,
    `dn: ou=people,${ldapBase}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ou=groups,${ldapBase}\nobjectClass: organizationalUnit\nou: groups\n`,
    ...users.map(
      (u) =>
        `dn: uid=${u.uid},ou=people,${ldapBase}\nobjectClass: inetOrgPerson\nuid: ${u.uid}\ncn: ${u.uid} Example\nsn: Example\nmail: ${u.mail}\nuserPassword: ${u.password}\n`,
    ),
    ...groups.map(
      (g) =>
        `dn: cn=${g},ou=groups,${ldapBase}\nobjectClass: groupOfNames\ncn: ${g}\n${users
          .filter((u) => u.groups.includes(g))
          .map((u) => `member: uid=${u.uid},ou=people,${ldapBase}`)
          .join('\n')}\n`,
    ),
  ];
  const ldif = join(dir, 'data.ldif');
  await writeFile(ldif, entries.join('\n'));
  await exec('/usr/sbin/slapadd', ['-f', config, '-l', ldif]);

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn('/usr/sbin/slapd', ['-f', config, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  // Ready when it accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await exec('ldapsearch', ['-x', '-H', url, '-b', ldapBase, '-s', 'base', 'dn'], { timeout: 2000 });
      break;
    } catch (err) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`slapd did not start: ${(err as Error).message}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
