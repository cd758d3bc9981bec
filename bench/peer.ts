// The Go controller-runtime peer webhook (../shared/peers/go-webhook, or PEER_DIR): the same
// injection served the way the Go ecosystem serves admission webhooks, built once per source
// version into .cache/peers/go-webhook. A yardstick for the benchmarks, not a product.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = process.cwd();
const PEER_SOURCE = resolve(process.env.PEER_DIR ?? join(ROOT, '../shared/peers/go-webhook'));
const PEER_BUILD = join(ROOT, '.cache/peers/go-webhook');

/** The peer's command line for a port and serving key pair. */
export function peerArgs(port: number, cert: string, key: string, network = 'ovs-net-br1'): string[] {
  return ['--addr', `127.0.0.1:${port}`, '--tls-cert', cert, '--tls-key', key, '--network', network];
}

/** Builds the Go peer from its source (once per source version); undefined when there is none. */
export function buildPeer(): string | undefined {
  const source = join(PEER_SOURCE, 'main.go');
  if (!existsSync(source)) {
    process.stderr.write(`no Go peer at ${PEER_SOURCE} (set PEER_DIR): its rows are left out\n`);
    return undefined;
  }
  const binary = join(PEER_BUILD, 'peer-webhook');
  const stamp = join(PEER_BUILD, 'stamp');
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex');
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return binary;
  mkdirSync(PEER_BUILD, { recursive: true });
  copyFileSync(source, join(PEER_BUILD, 'main.go'));
  const go = (...args: string[]) => {
    process.stderr.write(`go ${args.join(' ')} (in ${PEER_BUILD})\n`);
    const r = spawnSync('go', args, {
      cwd: PEER_BUILD,
      stdio: 'inherit',
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    if (r.status !== 0) throw new Error(`go ${args[0]} failed for the Go peer`);
  };
  if (!existsSync(join(PEER_BUILD, 'go.mod'))) go('mod', 'init', 'peer');
  go('get', 'sigs.k8s.io/controller-runtime@v0.22.4');
  go('mod', 'tidy');
  go('build', '-o', 'peer-webhook', '.');
  writeFileSync(stamp, hash);
  return binary;
}
