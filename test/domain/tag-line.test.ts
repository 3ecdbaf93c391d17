import { describe, expect, it } from 'vitest';
import { compareTagLines, isNewerOfLine, tagLine } from '../../src/domain/tag-line.js';

describe('tag lines', () => {
  it('splits a tag into its numbers and the suffix naming its variant', () => {
    expect(tagLine('12')).toEqual({ numbers: [12], suffix: '' });
    expect(tagLine('12.4-slim')).toEqual({ numbers: [12, 4], suffix: '-slim' });
    expect(tagLine('v1.2.3-alpine3.19')).toEqual({ numbers: [1, 2, 3], suffix: '-alpine3.19' });
    for (const tag of ['latest', 'bookworm', '', '1.2.3.4.5', 'x1.2', '1..2', '1234567890']) expect(tagLine(tag)).toBeUndefined();
  });

  it('takes a newer tag of the same line only: same suffix, as many numbers, same first number', () => {
    expect(isNewerOfLine('12.4-slim', '12.5-slim')).toBe(true);
    expect(isNewerOfLine('12.4-slim', '12.10-slim')).toBe(true);
    expect(isNewerOfLine('1.2.3', '1.3.0')).toBe(true);
    expect(isNewerOfLine('12.4-slim', '12.4-slim')).toBe(false);
    expect(isNewerOfLine('12.4-slim', '12.3-slim')).toBe(false);
    expect(isNewerOfLine('12.4-slim', '13.0-slim')).toBe(false);
    expect(isNewerOfLine('12.4-slim', '12.5')).toBe(false);
    expect(isNewerOfLine('12.4-slim', '12.5.1-slim')).toBe(false);
    expect(isNewerOfLine('latest', '12')).toBe(false);
    expect(isNewerOfLine('12', 'latest')).toBe(false);
  });

  it('orders versions numerically, not as text', () => {
    expect(['12.10', '12.9', '12.2'].sort(compareTagLines)).toEqual(['12.2', '12.9', '12.10']);
  });
});
