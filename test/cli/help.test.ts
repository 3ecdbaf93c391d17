import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exitCodes } from '../../src/cli/exit-codes.js';
import { cliPath } from '../helpers/process.js';

// Every command the built `berth` has, found by walking its own help: each answers --help with
// exit 0, is documented in docs/cli.md, and offers --json unless it has nothing to report.

const root = join(cliPath, '..', '..', '..');

function berth(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The subcommand names a help text lists under "Commands:" (not commander's own `help`). */
function subcommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1];
  if (section === undefined) return [];
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((name) => name !== 'help');
}

/** Commands with nothing to print as data: the server itself, and config's own outputs (Markdown, JSON already). */
const withoutJson = new Set(['serve', 'config docs', 'config show']);

describe('the berth command line', () => {
  it('has --help on every command and subcommand, documents each in docs/cli.md, and offers --json', async () => {
    const top = await berth(['--help']);
    expect(top.code).toBe(0);
    const queue = subcommands(top.stdout).map((name) => [name]);
    const helps = new Map<string, string>();
    while (queue.length > 0) {
      const batch = queue.splice(0, 6);
      const results = await Promise.all(batch.map((path) => berth([...path, '--help'])));
      batch.forEach((path, i) => {
        const { code, stdout, stderr } = results[i]!;
        expect({ path, code, stderr }).toEqual({ path, code: 0, stderr: '' });
        expect(stdout).toMatch(new RegExp(`^Usage: berth ${path.join(' ')} `));
        helps.set(path.join(' '), stdout);
        queue.push(...subcommands(stdout).map((name) => [...path, name]));
      });
    }
    const leaves = [...helps.keys()].filter((path) => subcommands(helps.get(path)!).length === 0).sort();
    // The commands this release has (a new one must be added here and to docs/cli.md).
    expect(leaves).toEqual(
      [
        'backup', 'config docs', 'config show', 'copy', 'doctor', 'export', 'gc', 'import', 'inspect', 'migrate-storage',
        'project create', 'project list', 'restore', 'robot create', 'robot list', 'scrub', 'search', 'serve',
        'user create', 'user disable', 'user enable', 'user list', 'user reset-password', 'user unlock', 'vulndb import', 'vulndb status',
      ].sort(),
    );
    const docs = await readFile(join(root, 'docs', 'cli.md'), 'utf8');
    for (const path of leaves) {
      expect(docs, `docs/cli.md has a section for berth ${path}`).toContain(`### \`berth ${path}`);
      if (!withoutJson.has(path)) expect(helps.get(path), `berth ${path} --help`).toMatch(/^ {2}--json\b/m);
    }
  }, 120_000);

  it('documents the exit codes every command uses, as src/cli/exit-codes.ts defines them', async () => {
    const docs = await readFile(join(root, 'docs', 'cli.md'), 'utf8');
    const table = docs.split(/^## Exit codes$/m)[1]!.split(/^## /m)[0]!;
    const rows = [...table.matchAll(/^\| (\d+) \| `(\w+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    expect(Object.fromEntries(rows)).toEqual(exitCodes);
  });

  it('exits 2 on a usage mistake, 0 on help, and says what it did not understand', async () => {
    const unknownCommand = await berth(['usr', 'list']);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("error: unknown command 'usr'");
    const unknownOption = await berth(['user', 'list', '--bogus']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("error: unknown option '--bogus'");
    const missingArgument = await berth(['user', 'create']);
    expect(missingArgument.code).toBe(2);
    expect(missingArgument.stderr).toContain("error: missing required argument 'username'");
    const badValue = await berth(['gc', '--grace-hours', 'soon', '--json']);
    expect(badValue.code).toBe(2);
    expect(JSON.parse(badValue.stdout)).toEqual({ error: { code: 'CONFIG_INVALID', message: '--grace-hours expects a number of hours, got "soon"' } });
    expect((await berth(['help', 'user'])).code).toBe(0);
  });
});
