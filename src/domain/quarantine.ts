/** Why stored content is quarantined: its bytes do not hash to its digest, or are gone. */
export type Quarantine = 'corrupt' | 'missing';

/** What a client reads when it asks for quarantined content (docs/lifecycle.md, "Scrub"). */
export function quarantineMessage(what: 'blob' | 'manifest', digest: string, kind: Quarantine): string {
  const found = kind === 'corrupt' ? 'its stored bytes do not match its digest' : 'its stored bytes are missing';
  return `${what} ${digest} is quarantined: ${found}; pushing it again repairs it`;
}
