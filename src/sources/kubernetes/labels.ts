/**
 * The labels and annotations the operator reads and writes on core objects. The operator watches
 * only Secrets labelled `keybrake.dev/secret: "true"`: upstream credential Secrets must carry it
 * (their author adds it); vault token Secrets get it from the operator when it mints the token, and
 * a user-provided token Secret from its author (the operator never labels a Secret it did not mint).
 */

/** Label a Secret must carry for the operator to see it (upstream credentials and vault tokens). */
export const SECRET_LABEL_KEY = 'keybrake.dev/secret';
export const SECRET_LABEL_VALUE = 'true';
/** The label selector of the Secret informer. */
export const SECRET_SELECTOR = `${SECRET_LABEL_KEY}=${SECRET_LABEL_VALUE}`;

/** Set on token Secrets the operator minted. */
export const MANAGED_BY_LABEL_KEY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_LABEL_VALUE = 'keybrake-operator';

/** Annotation on a minted token Secret: the token's fingerprint (never the token). */
export const FINGERPRINT_ANNOTATION = 'keybrake.dev/token-fingerprint';

/** Plural resource names of our kinds, as the API paths spell them. */
export const PLURALS = { VaultKey: 'vaultkeys', SpendPolicy: 'spendpolicies' } as const;
