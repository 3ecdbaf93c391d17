import type { ScanReport } from '../../ports/scan-store.js';
import type { ExternalScanner } from './external-scanner.js';
import type { ScanService } from './scan-service.js';
import type { ScannerRegistrations } from './scanner-registrations.js';

/**
 * Which scanner scans (docs/scanners.md): the one a request names, else the default external
 * scanner when one is registered and enabled, else the built-in scanner, unchanged. Both store
 * their reports in the same place, so reading a report does not care which made it.
 */
export class ScannerChooser {
  constructor(
    private readonly builtIn: ScanService,
    private readonly registrations: ScannerRegistrations,
    private readonly external: ExternalScanner,
  ) {}

  /** Scans `digest` of `repository` with `scanner` (a registered name, or `berth`), else the default. */
  async scan(repository: string, digest: string, scanner?: string): Promise<ScanReport> {
    const chosen = await this.registrations.choose(scanner);
    return chosen ? this.external.scan(chosen, repository, digest) : this.builtIn.scan(repository, digest);
  }

  report(digest: string): Promise<ScanReport | undefined> {
    return this.builtIn.report(digest);
  }
}
