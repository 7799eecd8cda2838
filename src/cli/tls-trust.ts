/**
 * OpenSSL's verdicts on a certificate chain the client cannot trust (node's `err.code`): a private
 * CA the client was not given, or a self-signed certificate.
 */
const UNTRUSTED: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** Node appends this to an untrusted chain's message; for keybrake the answer is a flag. */
const NODE_HINT = /; if the root CA is installed locally.*$/s;

/**
 * The line `keybrake run` prints, and `keybrake proxy` logs as its snapshot stream's failure, when the
 * operator's certificate is not trusted, or undefined for any other failure. Node's own message ends
 * "try running Node.js with --use-system-ca", which sent a user the wrong way (tenth round for run,
 * twelfth for proxy): the operator's certificate is signed by the cluster's or the chart's CA, which
 * `--operator-ca` gives.
 */
export function untrustedOperatorLine(err: unknown, caFile: string | undefined): string | undefined {
  const cause = chainError(err);
  if (cause === undefined) return undefined;
  const why = cause.message.replace(NODE_HINT, '');
  return caFile === undefined
    ? `the operator's certificate is not trusted (${why}): give the CA that signed it with --operator-ca <PEM file>`
    : `the operator's certificate is not trusted (${why}): --operator-ca ${caFile} does not hold the CA that signed it`;
}

/** The untrusted-chain error in `err` or its causes (undici wraps the socket's). */
function chainError(err: unknown): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && UNTRUSTED.has(code)) return e;
  }
  return undefined;
}
