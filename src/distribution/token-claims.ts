/**
 * A Kubernetes ServiceAccount token, projected or not, is a JWT: three base64url parts joined by dots.
 */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The clock skew the apiserver allows when it checks a token's `exp` (go-jose's default leeway). */
const EXPIRY_LEEWAY_MS = 60_000;

/**
 * Why a bearer token cannot be a ServiceAccount token for `audience` that is valid at `nowMs` (wall
 * clock, as `exp` is), judged from its payload alone, the signature unchecked; undefined when it may
 * be one. A pre-filter that spends no TokenReview on junk (sixth round: distinct JWT-shaped bearers
 * held every new proxy at 503 by taking the whole review budget); the TokenReview stays the authority
 * on what passes. A projected token names its audience (`aud`), its expiry (`exp`), its issuer (`iss`)
 * and its Pod and ServiceAccount (`kubernetes.io`); a legacy Secret-based token names no audience,
 * and the review would refuse it for ours anyway. The reason never quotes the token.
 */
export function unreviewable(bearer: string, audience: string, nowMs: number): string | undefined {
  if (!JWT.test(bearer)) return 'bearer token is not a ServiceAccount token (a JWT)';
  const claims = payloadOf(bearer);
  if (claims === undefined) return 'bearer token is not a ServiceAccount token (no JSON claims)';
  const aud = claims['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(audience)) return `token is not valid for audience ${audience}`;
  const exp = claims['exp'];
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'token names no expiry';
  if (exp * 1_000 + EXPIRY_LEEWAY_MS <= nowMs) return 'token has expired';
  if (typeof claims['iss'] !== 'string' || claims['iss'] === '') return 'token names no issuer';
  if (!isObject(claims['kubernetes.io']))
    return 'token is not a ServiceAccount token (no kubernetes.io claims)';
  return undefined;
}

/** The JWT's payload as an object, or undefined when it is not base64url JSON of one. */
function payloadOf(jwt: string): Record<string, unknown> | undefined {
  try {
    const claims: unknown = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
    return isObject(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
