// A TCP proxy on 127.0.0.1 for fault tests. It forwards bytes both ways between each client
// and the target and, on cue, stops forwarding without closing anything: a black hole, as
// when a NAT or conntrack entry is dropped on a path that keeps the connection up, or the
// peer hangs. The client sees no error and no FIN, only silence.
import { connect, createServer, type Socket } from 'node:net';

export interface ProxyStats {
  /** Connections accepted since the start. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Of those, how many are black-holed. */
  blackholed: number;
}

export interface TcpProxy {
  /** The port to point clients at (on 127.0.0.1). */
  port: number;
  /**
   * Every open connection stops forwarding: bytes are read and dropped in both directions,
   * nothing is closed, a close on one side is not passed on. With `newConnections`,
   * connections accepted from now on until restore() are held the same way (never
   * connected to the target).
   */
  blackhole(opts?: { newConnections?: boolean }): void;
  /** New connections are forwarded again; the black-holed ones stay dead. */
  restore(): void;
  stats(): ProxyStats;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  holed: boolean;
}

function forward(pair: Pair, from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!pair.holed) to.write(chunk);
  });
  from.on('end', () => {
    if (!pair.holed) to.end();
  });
  from.on('close', () => {
    if (!pair.holed) to.destroy();
  });
  from.on('error', () => undefined);
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let holdNew = false;
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const pair: Pair = { client, holed: holdNew };
    pairs.add(pair);
    client.on('close', () => pairs.delete(pair));
    if (pair.holed) {
      client.on('data', () => undefined);
      client.on('error', () => undefined);
      return;
    }
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    forward(pair, client, upstream);
    forward(pair, upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy: no port');
  return {
    port: address.port,
    blackhole(opts = {}) {
      for (const pair of pairs) pair.holed = true;
      if (opts.newConnections) holdNew = true;
    },
    restore() {
      holdNew = false;
    },
    stats() {
      let blackholed = 0;
      for (const pair of pairs) if (pair.holed) blackholed++;
      return { accepted, open: pairs.size, blackholed };
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
