/**
 * Where a Pod finds the ServiceAccount token it presents to the operator: the projected,
 * audience-bound one the chart mounts (audience `keybrake`), else the Pod's default token. Shared by
 * `keybrake proxy` (snapshot stream) and `keybrake run` (run API), without loading either.
 */
export const PROJECTED_TOKEN_PATH = '/var/run/secrets/keybrake/token';
export const SERVICE_ACCOUNT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';
