// Throwaway PKI for tests, the one certificate helper of the project, made with the openssl CLI
// (Node's crypto cannot issue X.509 certificates). Everything is valid for two days and lives in the
// caller's temp dir: the control plane's (CA, apiserver, admin client, service-account keys) and
// TLS listeners under test (a CA and a serving certificate for 127.0.0.1 signed by it).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from './control-plane/processes.ts';

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

/** A TLS listener's certificate and key, and the CA its clients trust: as files and as PEM text. */
export interface ServingTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** PEM of the CA (what a client passes as `ca`). */
  ca: string;
  cert: string;
  key: string;
}

const DAYS = '2';
// P-256 keys for TLS: generated in milliseconds, unlike RSA, and every client here (Go, Node) takes them.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const LOOPBACK = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

/** The PKI of one test control plane (envtest's: a CA, the apiserver's certificate, an admin client, SA keys). */
export async function generateCerts(dir: string): Promise<ControlPlaneCerts> {
  const ca = await issueCa(dir);
  const signedByCa = ['-CA', ca.cert, '-CAkey', ca.key];
  const certs: ControlPlaneCerts = {
    caCert: ca.cert,
    caKey: ca.key,
    servingCert: join(dir, 'serving.crt'),
    servingKey: join(dir, 'serving.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    saPrivateKey: join(dir, 'sa.key'),
    saPublicKey: join(dir, 'sa.pub'),
  };
  await Promise.all([
    issueServing(dir, ca, 'kube-apiserver'),
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

/** A CA and a serving certificate for 127.0.0.1 and localhost signed by it, for a TLS listener under test. */
export async function servingTls(dir: string, commonName = 'keybrake-operator'): Promise<ServingTls> {
  const ca = await issueCa(dir);
  const leaf = await issueServing(dir, ca, commonName);
  const [caPem, cert, key] = await Promise.all([
    readFile(ca.cert, 'utf8'),
    readFile(leaf.cert, 'utf8'),
    readFile(leaf.key, 'utf8'),
  ]);
  return { caFile: ca.cert, certFile: leaf.cert, keyFile: leaf.key, ca: caPem, cert, key };
}

interface KeyPair {
  cert: string;
  key: string;
}

async function issueCa(dir: string): Promise<KeyPair> {
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl(['req', '-x509', ...EC_KEY, '-days', DAYS, '-subj', '/CN=keybrake-test-ca'], {
    keyOut: ca.key,
    certOut: ca.cert,
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
  return ca;
}

async function issueServing(dir: string, ca: KeyPair, commonName: string): Promise<KeyPair> {
  const leaf = { cert: join(dir, 'serving.crt'), key: join(dir, 'serving.key') };
  await openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-days',
      DAYS,
      '-subj',
      `/CN=${commonName}`,
    ],
    {
      keyOut: leaf.key,
      certOut: leaf.cert,
      extensions: leafExtensions('serverAuth', LOOPBACK),
    },
  );
  return leaf;
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
