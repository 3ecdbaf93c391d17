/** How the admin commands print: one JSON document with `--json`, aligned text otherwise. */
import { ConfigError } from '../config/config-error.js';

/** Prints `value` as one line of JSON when `json` is set, otherwise the text `text()` makes. */
export function printResult(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : text());
}

/** Rows under a header, each column as wide as its widest cell. */
export function columns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`;
  return line(header) + rows.map(line).join('');
}

/** A time for people (UTC, to the second), or `never`/`-` for none. */
export function shownTime(ms: number | null, none = '-'): string {
  return ms === null ? none : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * A secret piped in (`--password-stdin`, as docker login takes it): the first line of stdin,
 * without its line ending. Refuses a terminal, where the secret would echo.
 */
export async function secretFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new ConfigError('--password-stdin reads a pipe, e.g. printf %s "$PASSWORD" | berth …');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0]!;
}

/**
 * Reports an error a command ends with: `shown` (default `berth: <message>`) on stderr and, when
 * the command was asked for `--json`, `{"error":{"code","message"}}` on stdout, so a script
 * parses every outcome.
 */
export function printError(code: string, message: string, shown = `berth: ${message}`): void {
  process.stderr.write(`${shown}\n`);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
}
