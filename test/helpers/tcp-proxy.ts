import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay that can be cut and restored on the same port: to a client it looks
 * exactly like the server behind it going down (connections reset, new ones refused) and
 * coming back.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  /** Holds every chunk from the server back this long (in order), as a slow network or a busy peer would. */
  serverToClientDelayMs = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (this.serverToClientDelayMs <= 0) client.write(chunk);
        else setTimeout(() => client.writable && client.write(chunk), this.serverToClientDelayMs);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Refuses new connections and resets the open ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * A fresh PostgreSQL database reached through a TcpProxy, so a test can make it "restart"
 * (cut, then start) without touching the server other test files use.
 */
export async function proxiedDatabase(): Promise<{ url: string; proxy: TcpProxy; drop: () => Promise<void> }> {
  const { createTempDatabase } = await import('./pg.js');
  const database = await createTempDatabase();
  const target = new URL(database.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  target.host = `127.0.0.1:${proxy.port}`;
  return {
    url: target.toString(),
    proxy,
    async drop() {
      await proxy.cut();
      await database.drop();
    },
  };
}
