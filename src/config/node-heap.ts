// The main thread's young generation. V8 sizes an isolate's heap when it creates it, so the
// main thread's can only be set where the process starts: the node command line or
// NODE_OPTIONS (the webhook Deployment sets NODE_OPTIONS). The review workers' is set at run
// time before they are spawned (src/webhook/workers.ts).

/**
 * The main thread's young generation cap, MB per semispace. Under load held for more than
 * about half a minute, V8 grew it to 8 MB or more and the main thread then fell into runs of
 * back-to-back major GCs (a Mark-Compact every 60 to 200 ms, p99 17 to 23 ms). Pinned, 60 s
 * of load: capped at 6 MB, 335 major GCs; at 1 to 4 MB, 2 to 7 and p99 3.8 to 5.7 ms, no
 * worse at 1 or 2 than at 4. 2 leaves the most room below the runs for the fewest major GCs
 * (docs/webhook.md, "The main thread's young generation").
 */
export const MAIN_SEMI_SPACE_MB = 2;

/** The node flag that applies the cap, for the command line or NODE_OPTIONS. */
export const MAIN_HEAP_FLAG = `--max-semi-space-size=${MAIN_SEMI_SPACE_MB}`;

const SEMI_SPACE_FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(.*))?$/;

/**
 * The `--max-semi-space-size` this process was started with, in MB, or undefined. NODE_OPTIONS
 * comes first and the command line after it, so the command line wins, as in node.
 */
export function startedSemiSpaceCapMb(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env['NODE_OPTIONS'] ?? '',
): number | undefined {
  const args = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  let cap: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const match = SEMI_SPACE_FLAG.exec(args[i]!);
    if (!match) continue;
    const value = Number(match[1] ?? args[++i]);
    if (Number.isFinite(value) && value > 0) cap = value;
  }
  return cap;
}
