import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli');

// rolldown.config.mjs writes characters beyond Latin-1 as \u escapes: V8 keeps a loaded chunk's
// source text in one byte per character only when every character fits in one.
describe("the bundle's source text", () => {
  it('is Latin-1 in every chunk, so V8 keeps it in one byte per character', () => {
    const chunks = readdirSync(cli).filter((f) => f.endsWith('.js'));
    expect(chunks.length).toBeGreaterThan(10);
    const wide = chunks.filter((f) => /[\u0100-\uffff]/.test(readFileSync(join(cli, f), 'utf8')));
    expect(wide).toEqual([]);
  });

  it('still says what the sources say: an escaped character prints as itself', () => {
    const help = execFileSync(process.execPath, [join(cli, 'main.js'), 'serve', '--help'], { encoding: 'utf8' });
    expect(help).toContain('sqlite:<path> or postgres://… (database.url)');
  });
});
