// NetworkAttachmentPolicy (kubevirt-net-injector.io/v1alpha1, cluster-scoped): which L2
// networks VMs in which namespaces get injected and may attach. Plain JSON types, so the pure
// evaluation (evaluate.ts) needs no Kubernetes client. The CRD's schema is in
// manifests/base/crds/networkattachmentpolicies.yaml; docs/policy.md explains every field.

export const POLICY_GROUP = 'kubevirt-net-injector.io';
export const POLICY_VERSION = 'v1alpha1';
export const POLICY_KIND = 'NetworkAttachmentPolicy';
export const POLICY_PLURAL = 'networkattachmentpolicies';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** Kubernetes' LabelSelector: every term must hold; an empty selector matches everything. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Mode = 'Enforce' | 'Warn' | 'Audit';

export interface InjectSpec {
  /** NetworkAttachmentDefinition: `name` (the VM's namespace) or `namespace/name`. */
  network: string;
  /** Name of the injected network and interface (default: the webhook's --interface). */
  interfaceName?: string;
  /** Patch the guest's cloud-init (default: the webhook's setting). */
  cloudInit?: boolean;
}

export interface AllowedNetworks {
  /** `namespace/name` patterns (`*` matches any run of characters); a bare `name` means the VM's namespace. */
  names?: string[];
  /** NetworkAttachmentDefinitions whose labels match. */
  selector?: LabelSelector;
}

/** Requests this policy does not judge. Every field set must match; entries are alternatives. */
export interface Exemption {
  namespaces?: string[];
  vmSelector?: LabelSelector;
  users?: string[];
  groups?: string[];
  /** `namespace/name` of ServiceAccounts. */
  serviceAccounts?: string[];
  /** RFC 3339; the exemption ends then. */
  expires?: string;
}

export interface PolicySpec {
  namespaceSelector: LabelSelector;
  vmSelector?: LabelSelector;
  inject?: InjectSpec;
  allowedNetworks?: AllowedNetworks;
  /** May allowed networks live in another namespace than the VM's (default false)? */
  allowCrossNamespace?: boolean;
  /** Multus networks a VM may list, at most. */
  maxSecondaryInterfaces?: number;
  /** The requesting user must be allowed `use` on every NetworkAttachmentDefinition the request adds. */
  requireUsePermission?: boolean;
  mode?: Mode;
  exemptions?: Exemption[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ViolatingVm {
  namespace: string;
  name: string;
  reason: string;
}

export interface PolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  matchedNamespaces?: number;
  violations?: number;
  lastAuditTime?: string;
  /** At most MAX_VIOLATING_VMS entries. */
  violatingVMs?: ViolatingVm[];
}

export interface NetworkAttachmentPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    generation?: number;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
  };
  spec: PolicySpec;
  status?: PolicyStatus;
}

/** A NetworkAttachmentDefinition as the policies see it. */
export interface NadInfo {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/** Who asks (AdmissionReview request.userInfo). */
export interface UserInfo {
  username?: string;
  groups?: string[];
}

export const MAX_VIOLATING_VMS = 20;

/** Enforce > Warn > Audit: the most restrictive mode first. */
export const MODE_ORDER: Record<Mode, number> = { Enforce: 0, Warn: 1, Audit: 2 };

export function modeOf(policy: NetworkAttachmentPolicy): Mode {
  return policy.spec.mode ?? 'Enforce';
}
