// A kubeconfig with the credentials embedded, so it stays valid wherever it is copied.
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

import type { CertFiles } from './certs.js';

const b64 = (file: string): string => readFileSync(file).toString('base64');

export function writeKubeconfig(path: string, server: string, caCert: string, client: CertFiles): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': b64(caCert) } }],
    users: [
      {
        name: 'admin',
        user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) },
      },
    ],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'admin' } }],
    'current-context': 'local',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}
