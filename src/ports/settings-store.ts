/** Settings an administrator changes at run time (API, console), stored as JSON by name. */
export interface StoredSetting {
  name: string;
  value: unknown;
  updatedAt: number;
  updatedBy: string | null;
}

export interface SettingsStore {
  list(): Promise<StoredSetting[]>;
  put(name: string, value: unknown, updatedBy: string | null, now: number): Promise<void>;
  delete(name: string): Promise<boolean>;
}
