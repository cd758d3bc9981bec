// A round-robin TCP balancer on 127.0.0.1, standing in for a Service in front of webhook
// replicas: each new connection goes to the next backend, byte for byte (TLS passes through).
// Like a Service whose endpoints still list a replica that just died, it does not skip a dead
// backend: that connection fails, as the apiserver would see it.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Balancer {
  port: number;
  close(): Promise<void>;
}

export function startBalancer(backends: number[]): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const port = backends[next++ % backends.length]!;
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : 0,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
