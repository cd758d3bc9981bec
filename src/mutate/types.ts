import type { Operation } from 'fast-json-patch';

/** What to inject. Resolved once by the caller (flags, config file, namespace), then per VM by annotations. */
export interface InjectSettings {
  /** NetworkAttachmentDefinition reference: `name` (the VM's namespace) or `namespace/name`. */
  network: string;
  /** Name of the injected network and interface in the VM spec (default `l2`). */
  interfaceName: string;
  /** Patch the guest's cloud-init so the secondary NIC takes DHCP without default route or DNS. */
  cloudInit: boolean;
}

/** Facts about the request that the VM object does not carry. */
export interface MutateContext {
  /** Stable entropy for MAC addresses when the VM has no name yet (generateName): the admission uid. */
  seed?: string;
}

export type Outcome = 'injected' | 'skipped' | 'unchanged';

export interface Decision {
  outcome: Outcome;
  /** Why it was skipped, or what was left out of an injection. */
  reason?: string;
}

export interface MutateResult {
  /** The mutated copy (the input is never modified). */
  vm: Record<string, unknown>;
  /** RFC 6902 patch from the input to `vm`; empty when nothing changed. */
  patch: Operation[];
  /** For the caller to surface (admission warnings, CLI stderr). Never contains user data. */
  warnings: string[];
  decision: Decision;
}

/** The object is not a VirtualMachine we can work on (wrong shape, wrong types). */
export class InvalidObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidObjectError';
  }
}
