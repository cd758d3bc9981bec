// Free loopback ports. The OS picks one; a tiny race remains between closing the probe and the
// server binding it, which callers absorb by retrying a failed start.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const HOST = '127.0.0.1';

function freeTcpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolveFree(false);
    });
    socket.bind(port, HOST, () => socket.close(() => resolveFree(true)));
  });
}

/** A 127.0.0.1 TCP port nobody listens on (and, with `udp`, free for UDP too). */
export async function freePort(opts: { udp?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freeTcpPort();
    if (!opts.udp || (await udpPortFree(port))) return port;
  }
  throw new Error('no free port on 127.0.0.1 for both TCP and UDP');
}
