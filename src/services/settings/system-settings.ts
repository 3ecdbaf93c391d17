import type { z } from 'zod';
import { outboundAllowSchema, quotaDefaultsSchema, rateLimitsSchema } from '../../config/schema.js';
import { parseCidr, type Cidr } from '../../domain/address-ranges.js';
import { BerthError } from '../../domain/errors.js';
import { outboundFeatures, type OutboundFeature } from '../../ports/outbound.js';
import type { SettingsStore } from '../../ports/settings-store.js';
import type { QuotaLimits } from '../../ports/metadata-store.js';

export type OutboundAllow = z.infer<typeof outboundAllowSchema>;
export type RateLimitSettings = z.output<typeof rateLimitsSchema>;
export type RateLimitCategory = 'pull' | 'api';
export type QuotaDefaults = z.output<typeof quotaDefaultsSchema>;

export interface SettingsView {
  /** Allowlists set here, added to those of the config file. */
  outbound: OutboundAllow;
  /** Allowlists of the config file (read-only here). */
  outboundFromFile: OutboundAllow;
  /** The rate limits in force. */
  rateLimits: RateLimitSettings;
  /** Whether they come from the config file or were set here. */
  rateLimitsFrom: 'file' | 'settings';
  /** The quota a new project gets. */
  quotaDefaults: QuotaDefaults;
  quotaDefaultsFrom: 'file' | 'settings';
}

export interface SettingsPatch {
  outbound?: OutboundAllow;
  /** null returns to the config file's limits. */
  rateLimits?: RateLimitSettings | null;
  /** null returns to the config file's defaults. */
  quotaDefaults?: QuotaDefaults | null;
}

export interface SystemSettingsOptions {
  /** What the config file says. */
  file: { outbound: OutboundAllow; rateLimits: RateLimitSettings; quotaDefaults: QuotaDefaults };
  /** Told after a change here, so other processes and instances reload. */
  onChange: () => void;
  /** How long a process trusts what it read when no change is announced (a lost message). */
  ttlMs?: number;
  now?: () => number;
}

/**
 * Settings an administrator changes while Berth runs (API and console's System page): which
 * internal addresses outbound requests may reach, and the rate limits. Read on every request,
 * so held in memory; reloaded when another process announces a change, and at least every
 * `ttlMs`.
 */
export class SystemSettings {
  private outbound: OutboundAllow = outboundAllowSchema.parse({});
  private rateLimits: RateLimitSettings | undefined;
  private quota: QuotaDefaults | undefined;
  private allowed = new Map<OutboundFeature, Cidr[]>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: SettingsStore,
    private readonly options: SystemSettingsOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.compile();
  }

  /** Reads the stored settings (at start, and when told they changed). */
  reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const stored = new Map((await this.store.list()).map((s) => [s.name, s.value]));
        const outbound = outboundAllowSchema.safeParse(stored.get('outbound') ?? {});
        this.outbound = outbound.success ? outbound.data : outboundAllowSchema.parse({});
        const limits = stored.has('rateLimits') ? rateLimitsSchema.safeParse(stored.get('rateLimits')) : undefined;
        this.rateLimits = limits?.success ? limits.data : undefined;
        const quota = stored.has('quotaDefaults') ? quotaDefaultsSchema.safeParse(stored.get('quotaDefaults')) : undefined;
        this.quota = quota?.success ? quota.data : undefined;
        this.loadedAt = this.now();
        this.compile();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** CIDRs `feature` may reach beyond ordinary addresses: the file's and the settings', for all features and for it. */
  allowedCidrs(feature: OutboundFeature): readonly Cidr[] {
    this.refreshIfStale();
    return this.allowed.get(feature) ?? [];
  }

  limits(): RateLimitSettings {
    this.refreshIfStale();
    return this.rateLimits ?? this.options.file.rateLimits;
  }

  /** The quota a project created now gets. */
  quotaDefaults(): QuotaDefaults {
    this.refreshIfStale();
    return this.quota ?? this.options.file.quotaDefaults;
  }

  /** The same, as the limits a new project row stores. */
  newProjectQuota(): QuotaLimits {
    const defaults = this.quotaDefaults();
    return { bytes: defaults.storageBytes, artifacts: defaults.artifacts };
  }

  view(): SettingsView {
    return {
      outbound: this.outbound,
      outboundFromFile: this.options.file.outbound,
      rateLimits: this.limits(),
      rateLimitsFrom: this.rateLimits ? 'settings' : 'file',
      quotaDefaults: this.quotaDefaults(),
      quotaDefaultsFrom: this.quota ? 'settings' : 'file',
    };
  }

  async update(patch: SettingsPatch, by: string): Promise<SettingsView> {
    const now = this.now();
    if (patch.outbound !== undefined) {
      const parsed = outboundAllowSchema.safeParse(patch.outbound);
      if (!parsed.success) throw invalid(parsed.error, 'outbound');
      await this.store.put('outbound', normalized(parsed.data), by, now);
    }
    if (patch.rateLimits === null) await this.store.delete('rateLimits');
    else if (patch.rateLimits !== undefined) {
      const parsed = rateLimitsSchema.safeParse(patch.rateLimits);
      if (!parsed.success) throw invalid(parsed.error, 'rateLimits');
      await this.store.put('rateLimits', parsed.data, by, now);
    }
    if (patch.quotaDefaults === null) await this.store.delete('quotaDefaults');
    else if (patch.quotaDefaults !== undefined) {
      const parsed = quotaDefaultsSchema.safeParse(patch.quotaDefaults);
      if (!parsed.success) throw invalid(parsed.error, 'quotaDefaults');
      await this.store.put('quotaDefaults', parsed.data, by, now);
    }
    await this.reload();
    this.options.onChange();
    return this.view();
  }

  private refreshIfStale(): void {
    if (this.now() - this.loadedAt > (this.options.ttlMs ?? 30_000)) void this.reload().catch(() => undefined);
  }

  private compile(): void {
    const file = this.options.file.outbound;
    const all = [...file.allowCidrs, ...this.outbound.allowCidrs];
    this.allowed = new Map(
      outboundFeatures.map((feature) => [feature, [...all, ...file[feature].allowCidrs, ...this.outbound[feature].allowCidrs].map((c) => parseCidr(c)!)]),
    );
  }
}

/** CIDRs as the parser prints them (`10.1.2.3/8` → `10.0.0.0/8`), so what is shown is what applies. */
function normalized(outbound: OutboundAllow): OutboundAllow {
  const norm = (list: string[]) => [...new Set(list.map((c) => parseCidr(c)!.text))];
  return {
    allowCidrs: norm(outbound.allowCidrs),
    ...(Object.fromEntries(outboundFeatures.map((f) => [f, { allowCidrs: norm(outbound[f].allowCidrs) }])) as Record<OutboundFeature, { allowCidrs: string[] }>),
  };
}

function invalid(error: z.ZodError, where: string): BerthError {
  const problems = error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
  return new BerthError('BAD_REQUEST', { message: `invalid settings: ${problems.join('; ')}`, detail: problems });
}
