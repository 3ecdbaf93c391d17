import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const read = (name: string) => readFileSync(join(root, name), 'utf8');

interface Section {
  level: number;
  codeBlocks: string[];
  listItems: number;
  tableRows: number;
  links: string[];
}

/**
 * What must stay the same between the README and its translation, section by section: the
 * heading levels, every code block word for word, how many list items and table rows there
 * are, and every link and image target in order. Only the prose differs.
 */
function structure(markdown: string): Section[] {
  const sections: Section[] = [];
  let current: Section | undefined;
  let code: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (code) {
      if (line.startsWith('```')) {
        current!.codeBlocks.push(code.join('\n'));
        code = undefined;
      } else code.push(line);
      continue;
    }
    const heading = /^(#{1,6}) /.exec(line);
    if (heading) {
      current = { level: heading[1]!.length, codeBlocks: [], listItems: 0, tableRows: 0, links: [] };
      sections.push(current);
      continue;
    }
    if (!current) throw new Error(`text before the first heading: ${line}`);
    if (line.startsWith('```')) code = [];
    else if (line.startsWith('- ')) current.listItems++;
    else if (line.startsWith('|')) current.tableRows++;
    for (const link of line.matchAll(/\]\(([^)\s]+)\)/g)) current.links.push(link[1]!);
  }
  return sections;
}

describe('README in 简体中文', () => {
  const english = read('README.md');
  const chinese = read('README.zh-CN.md');

  it('links to the other language from the top of each', () => {
    expect(english.split('\n').slice(0, 4).join('\n')).toContain('[简体中文](README.zh-CN.md)');
    expect(chinese.split('\n').slice(0, 4).join('\n')).toContain('[English](README.md)');
  });

  it('has the same sections, code, lists, tables and links as the English one', () => {
    const en = structure(english);
    const zh = structure(chinese);
    // The language links are the one difference by design.
    en[0]!.links = en[0]!.links.filter((l) => l !== 'README.zh-CN.md');
    zh[0]!.links = zh[0]!.links.filter((l) => l !== 'README.md');
    expect(zh.map((s) => s.level)).toEqual(en.map((s) => s.level));
    for (const [i, section] of en.entries()) {
      expect({ section: i, ...zh[i] }).toEqual({ section: i, ...section });
    }
  });

  it('tells a translation apart whose command, list or link drifted', () => {
    // The comparison itself must see drift, or the test above could not fail.
    const drifted = [
      chinese.replace('npm install && npm start', 'npm install && npm run start'),
      chinese.replace('- [docs/preheat.md](docs/preheat.md)', '[docs/preheat.md](docs/preheat.md)'),
      chinese.replace('(docs/storage.md)', '(docs/storage-zh.md)'),
    ];
    for (const text of drifted) {
      expect(text).not.toBe(chinese);
      expect(structure(text)).not.toEqual(structure(chinese));
    }
  });
});
