import { RegistryClient } from './oci.js';

/** A thin client for /api/v1 as some user (admin by default), for test setup and assertions. */
export class ApiClient {
  readonly registry: RegistryClient;

  constructor(base: string, credentials: { username: string; password: string } | null = { username: 'admin', password: 'Admin-Passw0rd' }) {
    this.registry = new RegistryClient(base, credentials);
  }

  async call(method: string, path: string, body?: unknown): Promise<Response> {
    return this.registry.fetch(`/api/v1${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    });
  }

  /** Calls and expects a 2xx, returning the parsed JSON body (or undefined for 204). */
  async ok<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.call(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  createUser(username: string, password: string, extra: Record<string, unknown> = {}): Promise<{ id: number; username: string }> {
    return this.ok('POST', '/users', { username, password, ...extra });
  }

  createProject(name: string, isPublic = false): Promise<{ id: number; name: string }> {
    return this.ok('POST', '/projects', { name, public: isPublic });
  }

  addMember(project: string, username: string, role: string): Promise<{ id: number }> {
    return this.ok('POST', `/projects/${project}/members`, { type: 'user', name: username, role });
  }

  createRobot(project: string | null, name: string, actions: string[], extra: Record<string, unknown> = {}): Promise<{ id: number; name: string; secret: string }> {
    const path = project ? `/projects/${project}/robots` : '/robots';
    return this.ok('POST', path, { name, permissions: [{ project: project ?? '*', actions }], ...extra });
  }
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
