// Which policy's `inject` a VM gets (pure): the first by name among the policies that select it.
import { selecting } from './evaluate.js';
import type { VmFacts } from './facts.js';
import type { InjectSpec, NetworkAttachmentPolicy } from './types.js';

export function injectionFor(
  policies: readonly NetworkAttachmentPolicy[],
  vm: Pick<VmFacts, 'labels'>,
): { policy: string; inject: InjectSpec } | undefined {
  const first = selecting(policies, vm).find((p) => p.spec.inject !== undefined);
  return first && { policy: first.metadata.name, inject: first.spec.inject! };
}
