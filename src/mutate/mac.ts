import { hash } from 'node:crypto';

/**
 * A locally administered unicast MAC address derived from `seed` and `salt`: the same VM and
 * interface always get the same address (a stable DHCP lease across restarts), different ones
 * practically never collide (40 random bits). Avoids every address in `taken`.
 */
export function deriveMac(seed: string, salt: string, taken: ReadonlySet<string> = new Set()): string {
  for (let attempt = 0; ; attempt++) {
    const digest = hash('sha256', `${seed}\u0000${salt}\u0000${attempt}`, 'buffer');
    const bytes = [...digest.subarray(0, 6)];
    bytes[0] = (bytes[0]! & 0xfc) | 0x02; // unicast, locally administered
    const mac = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (!taken.has(mac)) return mac;
  }
}

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}
