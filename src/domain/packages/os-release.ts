import type { OperatingSystem } from './package.js';

/** Parses os-release(5): KEY=value lines, values optionally quoted with shell escapes. */
export function parseOsRelease(text: string): OperatingSystem | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2]!.trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
    if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    fields.set(m[1]!, value);
  }
  const id = fields.get('ID');
  if (!id) return undefined;
  const os: OperatingSystem = { id };
  if (fields.get('VERSION_ID')) os.versionId = fields.get('VERSION_ID');
  if (fields.get('PRETTY_NAME')) os.prettyName = fields.get('PRETTY_NAME');
  if (fields.get('VERSION_CODENAME')) os.codename = fields.get('VERSION_CODENAME');
  return os;
}
