import { createPrivateKey, X509Certificate } from 'node:crypto';
import { UsageError } from './args.ts';
import { readRegularFile } from './regular-file.ts';

/** What a TLS flag's file holds: certificates (a serving chain, a CA bundle) or a private key. */
export type PemKind = 'certificates' | 'private key';

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/**
 * The PEM file a TLS flag names (`operator --tls-cert`/`--tls-key`, `run`/`proxy --operator-ca`),
 * read and checked before anything starts or connects; a usage error (exit 2) naming the flag
 * otherwise. A missing `--tls-cert` was a bare "ENOENT: … open '/nonexistent'", exit 1, and an
 * `--operator-ca` that held no certificate (`/etc/hostname`) was taken silently, leaving the user
 * at Node's "unable to verify the first certificate" (tenth round). Never quotes the file: a key's.
 */
export async function readPemFlag(flag: string, file: string, kind: PemKind): Promise<Buffer> {
  const bytes = await readRegularFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--${flag} ${file}: cannot read: ${readProblem(err)}`);
  });
  const problem = kind === 'private key' ? privateKeyProblem(bytes) : certificatesProblem(bytes);
  if (problem !== undefined) throw new UsageError(`--${flag} ${file}: ${problem}`);
  return bytes;
}

function readProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EACCES') return 'permission denied (EACCES)';
  return err.code ?? err.message;
}

function certificatesProblem(bytes: Buffer): string | undefined {
  const blocks = bytes.toString('latin1').match(CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)';
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      return `certificate #${i + 1} of the file is not a valid X.509 certificate`;
    }
  }
  return undefined;
}

function privateKeyProblem(bytes: Buffer): string | undefined {
  if (!PRIVATE_KEY.test(bytes.toString('latin1')))
    return 'not a PEM private key file (no -----BEGIN PRIVATE KEY----- block)';
  try {
    createPrivateKey(bytes);
  } catch {
    // Its text is a secret: say what is wrong, never what crypto quoted.
    return 'the private key does not parse (an encrypted key is not supported)';
  }
  return undefined;
}
