// Configuration of the `explain` command: flags only, parsed and validated once.
import { parseArgs } from 'node:util';
import { DEFAULT_INTERFACE_NAME } from '../mutate/index.js';
import { isDnsLabel, parseNetworkRef } from '../mutate/names.js';

export interface ExplainConfig {
  /** The VirtualMachine(s): a file, or `-` for stdin. */
  file: string;
  /** Where the VMs would be created (default: each VM's own namespace, else `default`). */
  namespace?: string;
  /** Offline: files of NetworkAttachmentPolicy, NetworkAttachmentDefinition and Namespace documents. */
  policyFiles: string[];
  /** Against a cluster: read the namespace, policies and NADs there. */
  kubeconfig?: string;
  /** The webhook's defaults, as its flags. */
  defaults: { network?: string; interfaceName: string; cloudInit: boolean };
  output: 'text' | 'json';
}

export class ExplainConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExplainConfigError';
  }
}

export type ExplainArgs = { help: true } | { help: false; config: ExplainConfig };

export const EXPLAIN_USAGE = `usage: kubevirt-net-injector explain -f <file|-> [flags]

Says what would happen to each VirtualMachine in the input if it were created now:
whether its namespace is opted in, what the webhook would inject (network, interface,
cloud-init, and where the network comes from) or why not, which NetworkAttachmentPolicies
apply or exempt it, every finding (mode, rule, field, message, fix) and the verdict. The
same engine and evaluation as the webhooks.

Offline (default): policies, NADs and Namespaces come from --policy files. A namespace not
in them counts as opted in with no other labels; with no NAD in them, whether a NAD exists
is not checked. Against a cluster (--kubeconfig): the namespace, the policies and the NADs
the VM names are read there, and requireUsePermission is checked for you (a
SelfSubjectAccessReview).

flags:
  -f, --filename FILE    the VirtualMachine(s): YAML or JSON, several documents, v1 List
  -n, --namespace NS     where they would be created (default: the VM's, else default)
      --policy FILE      policies, NADs and Namespaces for offline use (repeatable)
      --kubeconfig FILE  read them from this cluster instead (not with --policy)
      --network NAD      the webhook's --network (name or namespace/name)
      --interface NAME   the webhook's --interface (default ${DEFAULT_INTERFACE_NAME})
      --no-cloud-init    the webhook's --no-cloud-init
  -o, --output FORMAT    text (default) or json
  -h, --help             this text

Exit status: 0 when every VM would be allowed (or only warned), 1 when one would be
denied, 2 on bad input or flags, or a cluster that cannot be read.
`;

export function parseExplainArgs(args: string[]): ExplainArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f' },
        namespace: { type: 'string', short: 'n' },
        policy: { type: 'string', multiple: true },
        kubeconfig: { type: 'string' },
        network: { type: 'string' },
        interface: { type: 'string' },
        'no-cloud-init': { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ExplainConfigError((err as Error).message);
  }
  const values = parsed.values;
  if (values.help) return { help: true };
  if (!values.filename) throw new ExplainConfigError('-f is required (a file, or - for stdin)');
  const policyFiles = values.policy ?? [];
  if (policyFiles.length > 0 && values.kubeconfig !== undefined)
    throw new ExplainConfigError('--policy (offline) and --kubeconfig (a cluster) do not go together');
  if (policyFiles.includes('-')) throw new ExplainConfigError('--policy takes files, not stdin');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json')
    throw new ExplainConfigError(`-o must be text or json, not ${output}`);
  if (values.namespace !== undefined && !isDnsLabel(values.namespace))
    throw new ExplainConfigError(`--namespace must be a DNS label, got ${values.namespace}`);
  if (values.network !== undefined && !parseNetworkRef(values.network))
    throw new ExplainConfigError(`--network must be name or namespace/name, got ${values.network}`);
  const interfaceName = values.interface ?? DEFAULT_INTERFACE_NAME;
  if (!isDnsLabel(interfaceName))
    throw new ExplainConfigError(`--interface must be a DNS label, got ${interfaceName}`);
  const config: ExplainConfig = {
    file: values.filename,
    policyFiles,
    defaults: {
      interfaceName,
      cloudInit: !values['no-cloud-init'],
      ...(values.network !== undefined ? { network: values.network } : {}),
    },
    output,
  };
  if (values.namespace !== undefined) config.namespace = values.namespace;
  if (values.kubeconfig !== undefined) config.kubeconfig = values.kubeconfig;
  return { help: false, config };
}
