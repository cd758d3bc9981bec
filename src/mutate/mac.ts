import { hash } from 'node:crypto';

/**
 * A locally administered unicast MAC address derived from `seed` and `salt`: the same VM and
 * interface always get the same address (a stable DHCP lease across restarts), different ones
 * practically never collide (46 bits of SHA-256). Avoids every address in `taken`.
 */
export function deriveMac(seed: string, salt: string, taken: ReadonlySet<string> = new Set()): string {
  for (let attempt = 0; ; attempt++) {
    // Hex output: node's one-shot hash returns a string several times faster than a Buffer.
    const hex = hash('sha256', `${seed}\u0000${salt}\u0000${attempt}`, 'hex');
    const first = (parseInt(hex.slice(0, 2), 16) & 0xfc) | 0x02; // unicast, locally administered
    const mac =
      `${first.toString(16).padStart(2, '0')}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:` +
      `${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
    if (!taken.has(mac)) return mac;
  }
}

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}
