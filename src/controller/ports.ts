// Parses the `kubevirt-net-injector.io/service-ports` annotation: a comma-separated list of
// `name:port[/PROTOCOL]` (a lone `port[/PROTOCOL]` is accepted when it is the only entry,
// as Kubernetes allows one unnamed Service port). Errors name the entry at fault.
import type { Protocol, ServicePort } from './types.js';

export class PortsAnnotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortsAnnotationError';
  }
}

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
// IANA service name, as Kubernetes validates port names: at most 15 characters, lowercase
// letters, digits and single inner hyphens, at least one letter.
const PORT_NAME = /^[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z0-9]$/;

function parsePortName(name: string, entry: string): string {
  if (name.length > 15)
    throw new PortsAnnotationError(`port name '${name}' in '${entry}' is longer than 15 characters`);
  if (!PORT_NAME.test(name) || !/[a-z]/.test(name)) {
    throw new PortsAnnotationError(
      `port name '${name}' in '${entry}' must be lowercase letters, digits and inner single hyphens, with at least one letter`,
    );
  }
  return name;
}

function parsePortNumber(text: string, entry: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new PortsAnnotationError(`port '${text}' in '${entry}' is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535)
    throw new PortsAnnotationError(`port ${port} in '${entry}' is outside 1-65535`);
  return port;
}

function parseProtocol(text: string | undefined, entry: string): Protocol {
  if (text === undefined) return 'TCP';
  const upper = text.toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(upper)) {
    throw new PortsAnnotationError(`protocol '${text}' in '${entry}' is not one of ${PROTOCOLS.join(', ')}`);
  }
  return upper;
}

function parseEntry(entry: string): ServicePort {
  const [namePart, rest, extra] = entry.split(':');
  if (extra !== undefined) throw new PortsAnnotationError(`'${entry}' has more than one ':'`);
  const portAndProtocol = rest === undefined ? namePart! : rest;
  const [portText, protocolText, more] = portAndProtocol.split('/');
  if (more !== undefined) throw new PortsAnnotationError(`'${entry}' has more than one '/'`);
  const port = parsePortNumber(portText!, entry);
  const protocol = parseProtocol(protocolText, entry);
  const result: ServicePort = { port, targetPort: port, protocol };
  if (rest !== undefined) result.name = parsePortName(namePart!, entry);
  return result;
}

/** Parses the annotation value; an empty or blank value means no ports. */
export function parseServicePorts(value: string): ServicePort[] {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const ports = entries.map(parseEntry);
  if (ports.length > 1) {
    const unnamed = ports.find((p) => p.name === undefined);
    if (unnamed)
      throw new PortsAnnotationError(
        `port ${unnamed.port} needs a name: a Service with several ports names each`,
      );
  }
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  for (const p of ports) {
    if (p.name !== undefined) {
      if (seenNames.has(p.name)) throw new PortsAnnotationError(`port name '${p.name}' appears twice`);
      seenNames.add(p.name);
    }
    const key = `${p.port}/${p.protocol}`;
    if (seenPorts.has(key)) throw new PortsAnnotationError(`port ${key} appears twice`);
    seenPorts.add(key);
  }
  return ports;
}
