// Every annotation and label the injector reads or writes, in one place.
export const PREFIX = 'kubevirt-net-injector.io/';

export const Keys = {
  /** Label or annotation on a VM (or label on a namespace): `enabled` / `disabled`. */
  inject: `${PREFIX}inject`,
  /** Per-VM override of the NetworkAttachmentDefinition reference. */
  network: `${PREFIX}network`,
  /** Per-VM override of the injected network/interface name; also records the name used. */
  interface: `${PREFIX}interface`,
  /** Per-VM `enabled` / `disabled` for the guest cloud-init patch. */
  cloudInit: `${PREFIX}cloud-init`,
  /** Written by the injector: `injected` or `skipped: <reason>`. */
  status: `${PREFIX}status`,
  /** Per-VM: the Service the controller publishes the VM under (default: the VM name). */
  serviceName: `${PREFIX}service-name`,
  /** Per-VM: that Service's ports, `name:port[/proto],…`. */
  servicePorts: `${PREFIX}service-ports`,
  /** Written by the controller on a slice whose endpoint went not-ready (RFC 3339). */
  notReadySince: `${PREFIX}not-ready-since`,
} as const;

export const STATUS_INJECTED = 'injected';

const OFF = new Set(['disabled', 'false', 'no', 'off']);
const ON = new Set(['enabled', 'true', 'yes', 'on']);

/** `true` / `false` for the usual spellings, `undefined` when absent, an Error message otherwise. */
export function parseSwitch(value: string | undefined, key: string): boolean | undefined | { error: string } {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (ON.has(v)) return true;
  if (OFF.has(v)) return false;
  return { error: `${key}: expected enabled or disabled, got ${quoted(value)}` };
}

/**
 * A value from the VM, quoted for a message (warning, status annotation, log line) and cut
 * to `max` characters: a message never carries more of the user's input than that.
 */
export function quoted(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
}
