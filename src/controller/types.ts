// Shapes the controller reads and writes, kept as plain JSON types so the pure core
// (desired.ts, ports.ts) needs no Kubernetes client. Only the fields we use are modelled;
// unknown fields of objects read from the apiserver survive because updates start from
// the stored object (see apply in reconcile.ts).

import { Keys } from '../mutate/annotations.js';

export const ANN_STATUS = Keys.status;
export const ANN_INTERFACE = Keys.interface;
export const ANN_SERVICE_NAME = Keys.serviceName;
export const ANN_SERVICE_PORTS = Keys.servicePorts;
/** On a slice whose endpoint went not-ready: when (RFC 3339), so the grace period survives restarts. */
export const ANN_NOT_READY_SINCE = Keys.notReadySince;

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_SLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
// A label value: no '/' allowed (the apiserver rejects `kubevirt-net-injector.io/controller`),
// so it is written like the built-in `endpointslice-controller.k8s.io`.
export const SLICE_MANAGER = 'controller.kubevirt-net-injector.io';
/** On Services and legacy Endpoints we write (EndpointSlices carry LABEL_SLICE_MANAGED_BY instead). */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'kubevirt-net-injector';
export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface VmNetwork {
  name: string;
  multus?: { networkName?: string; default?: boolean };
  pod?: Record<string, unknown>;
}

export interface VirtualMachine {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    running?: boolean;
    runStrategy?: string;
    template?: { metadata?: ObjectMeta; spec?: { networks?: VmNetwork[] } & Record<string, unknown> };
  } & Record<string, unknown>;
}

export interface VmiInterfaceStatus {
  name?: string;
  interfaceName?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  mac?: string;
  infoSource?: string;
}

export interface VirtualMachineInstance {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: { phase?: string; nodeName?: string; interfaces?: VmiInterfaceStatus[] } & Record<string, unknown>;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number;
  protocol?: Protocol;
}

export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Record<string, string>;
    ports?: ServicePort[];
    type?: string;
    publishNotReadyAddresses?: boolean;
  } & Record<string, unknown>;
}

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
}

export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: Protocol;
}

export type AddressType = 'IPv4' | 'IPv6';

export interface EndpointSlice {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  addressType: AddressType;
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

/** Legacy core/v1 Endpoints (optional output). */
export interface Endpoints {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  subsets?: {
    addresses?: { ip: string; hostname?: string; nodeName?: string; targetRef?: ObjectReference }[];
    notReadyAddresses?: { ip: string; hostname?: string; nodeName?: string; targetRef?: ObjectReference }[];
    ports?: EndpointPort[];
  }[];
}
