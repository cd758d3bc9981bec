// Certificates for the control plane and the webhook, made with the openssl CLI: a CA, serving
// certificates with IP SANs, client certificates (the admin is O=system:masters) and the
// service-account signing key pair. EC P-256 keys: quick to make, accepted everywhere here.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends CertFiles {
  dir: string;
  /** The CA certificate, PEM. */
  pem: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`);
  }
}

/** A self-signed CA in `dir` (ca.crt, ca.key), valid `days` days. */
export function createCA(
  dir: string,
  name = 'kubevirt-net-injector test CA',
  days = 7,
): CertificateAuthority {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return { dir, cert, key, pem: readFileSync(cert, 'utf8') };
}

export interface IssueOptions {
  /** File name stem: writes STEM.crt and STEM.key next to the CA. */
  stem: string;
  commonName: string;
  organization?: string;
  usage: 'server' | 'client';
  ipSans?: string[];
  dnsSans?: string[];
  days?: number;
}

/** A leaf certificate signed by `ca`. */
export function issue(ca: CertificateAuthority, opts: IssueOptions): CertFiles {
  const cert = join(ca.dir, `${opts.stem}.crt`);
  const key = join(ca.dir, `${opts.stem}.key`);
  const csr = join(ca.dir, `${opts.stem}.csr`);
  const ext = join(ca.dir, `${opts.stem}.ext`);
  const subject = (opts.organization ? `/O=${opts.organization}` : '') + `/CN=${opts.commonName}`;
  const sans = [
    ...(opts.ipSans ?? []).map((ip) => `IP:${ip}`),
    ...(opts.dnsSans ?? []).map((d) => `DNS:${d}`),
  ];
  const lines = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
  ];
  if (sans.length) lines.push(`subjectAltName=${sans.join(',')}`);
  writeFileSync(ext, lines.join('\n') + '\n');
  openssl(['req', '-new', ...EC, '-keyout', key, '-out', csr, '-subj', subject], ca.dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      String(opts.days ?? 7),
      '-extfile',
      ext,
    ],
    ca.dir,
  );
  return { cert, key };
}

/** The service-account token signing key pair (sa.key, sa.pub). */
export function serviceAccountKeys(dir: string): { privateKey: string; publicKey: string } {
  const privateKey = join(dir, 'sa.key');
  const publicKey = join(dir, 'sa.pub');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', privateKey], dir);
  openssl(['pkey', '-in', privateKey, '-pubout', '-out', publicKey], dir);
  return { privateKey, publicKey };
}
