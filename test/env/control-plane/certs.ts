// Throwaway PKI for one control plane, made with the openssl CLI (Node's crypto cannot issue X.509
// certificates). Everything is valid for two days and lives in the control plane's temp dir.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './processes.ts';

export interface ControlPlaneCerts {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  /** RSA pair the apiserver signs and verifies service-account tokens with. */
  saPrivateKey: string;
  saPublicKey: string;
}

const DAYS = '2';
// P-256 keys for TLS: generated in milliseconds, unlike RSA, and every client here (Go, Node) takes them.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function generateCerts(dir: string): Promise<ControlPlaneCerts> {
  const certs: ControlPlaneCerts = {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    servingCert: join(dir, 'serving.crt'),
    servingKey: join(dir, 'serving.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saPrivateKey: join(dir, 'sa.key'),
    saPublicKey: join(dir, 'sa.pub'),
  };
  await openssl(['req', '-x509', ...EC_KEY, '-days', DAYS, '-subj', '/CN=keybrake-test-ca'], {
    keyOut: certs.caKey,
    certOut: certs.caCert,
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
  const signedByCa = ['-CA', certs.caCert, '-CAkey', certs.caKey];
  await Promise.all([
    openssl(['req', '-x509', ...EC_KEY, ...signedByCa, '-days', DAYS, '-subj', '/CN=kube-apiserver'], {
      keyOut: certs.servingKey,
      certOut: certs.servingCert,
      extensions: leafExtensions('serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost'),
    }),
    // O=system:masters is the group RBAC lets do anything; the apiserver authenticates it via --client-ca-file.
    openssl(
      [
        'req',
        '-x509',
        ...EC_KEY,
        ...signedByCa,
        '-days',
        DAYS,
        '-subj',
        '/O=system:masters/CN=keybrake-admin',
      ],
      {
        keyOut: certs.adminKey,
        certOut: certs.adminCert,
        extensions: leafExtensions('clientAuth'),
      },
    ),
    generateServiceAccountKeys(certs.saPrivateKey, certs.saPublicKey),
  ]);
  return certs;
}

function leafExtensions(usage: 'serverAuth' | 'clientAuth', ...extra: string[]): string[] {
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${usage}`,
    ...extra,
  ];
}

interface IssueOptions {
  keyOut: string;
  certOut: string;
  extensions: string[];
}

async function openssl(args: string[], opts: IssueOptions): Promise<void> {
  const addext = opts.extensions.flatMap((ext) => ['-addext', ext]);
  // With -CA, `req -x509` copies the request's extensions, so -addext is enough (OpenSSL >= 3.0).
  await runChecked('openssl', [...args, ...addext, '-keyout', opts.keyOut, '-out', opts.certOut]);
}

async function generateServiceAccountKeys(privateKey: string, publicKey: string): Promise<void> {
  const key = await runChecked('openssl', [
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
  ]);
  await writeFile(privateKey, key.stdout, { mode: 0o600 });
  const pub = await runChecked('openssl', ['pkey', '-pubout'], { input: key.stdout });
  await writeFile(publicKey, pub.stdout);
}
