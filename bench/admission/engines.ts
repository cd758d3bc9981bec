// Stand-in engines for the benchmark's decomposition, each run on the review worker as the
// real one is: what the webhook costs apart from the injection, and apart from computing it.
import { mutate } from '../../src/mutate/index.js';
import type { MutateFn } from '../../src/webhook/handler.js';

/** Changes nothing: the transport, handler, logging and metrics alone. */
export const noop: MutateFn = (vm) => ({
  vm: vm as Record<string, unknown>,
  patch: [],
  warnings: [],
  decision: { outcome: 'unchanged' },
});

/** The first VM's real result, computed once: the answer's full size without its work. */
export function fixedPatch(): MutateFn {
  let result: ReturnType<MutateFn> | undefined;
  return (vm, settings, ctx) => (result ??= mutate(vm, settings, ctx));
}
