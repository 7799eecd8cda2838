import { DURATION_SYNTAX, parseDuration } from '../duration.ts';
import { type ListenAddress, parseListen } from '../listen.ts';
import { UsageError } from './args.ts';

/**
 * A positive whole-number flag (a size, a count), in decimal digits as the help writes it: read by
 * Number(), `--max-body 0x10` was 16 bytes, `1e3` 1000 and " 12 " 12 (seventh round).
 */
export function positiveInt(flag: string, text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${flag} ${text}: expected a positive whole number`);
  return n;
}

/**
 * A positive duration flag in milliseconds (src/duration.ts: one rule for every duration); with
 * `allowZero`, 0 too (a flag where 0 turns something off).
 */
export function durationFlag(
  flag: string,
  text: string,
  example = '30s, 500ms or 2m',
  opts: { readonly allowZero?: boolean } = {},
): number {
  const ms = parseDuration(text);
  // 0 is a duration, so "expected a duration" would not say what is wrong with it.
  if (ms === 0 && opts.allowZero !== true)
    throw new UsageError(`--${flag} ${text}: must be positive, such as ${example}`);
  if (ms === undefined)
    throw new UsageError(`--${flag} ${text}: expected a duration such as ${example} (${DURATION_SYNTAX})`);
  return ms;
}

/**
 * A listener address flag (`host:port`, `:port` or a bare port): a bad one is a usage error (exit 2)
 * like every other bad flag, not a failure to start (fifth round: such addresses exited 1).
 */
export function listenFlag(flag: string, text: string): ListenAddress {
  try {
    return parseListen(text);
  } catch {
    throw new UsageError(`--${flag} ${text}: expected host:port, :port or a port (0-65535)`);
  }
}

/**
 * Refuses a repeatable `vendor=value` flag (`--vendor-port`, `--upstream`) that names a vendor twice:
 * the last one silently won, so `--vendor-port stripe=45921 --vendor-port stripe=45925` listened on
 * one port the operator believed served (seventh round). Pairs without a vendor are left to the
 * flag's own parser, which names the form it expects.
 */
export function onePerVendor(flag: string, pairs: readonly string[]): void {
  const first = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const vendor = pair.slice(0, eq);
    const earlier = first.get(vendor);
    if (earlier !== undefined)
      throw new UsageError(`--${flag} ${pair}: ${vendor} is also given as ${earlier}; give each vendor once`);
    first.set(vendor, pair);
  }
}

/** A namespace (a DNS label) and a ServiceAccount name (a DNS subdomain), as `namespace/name`. */
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

/**
 * The operator's `--proxy-service-account` values: the ServiceAccounts the snapshot stream admits,
 * none else. Required, since the tables carry upstream keys and any ServiceAccount can be given a
 * token of the audience (agent runners are, for the run API): without the flag the operator used to
 * stream them to every one (eighth round). A value in another spelling would match no caller: it is
 * refused here rather than found out as a proxy's 403.
 */
export function proxyServiceAccounts(values: readonly string[] | undefined): string[] {
  const accounts = values ?? [];
  if (accounts.length === 0)
    throw new UsageError(
      "--proxy-service-account is required: the proxies' ServiceAccount as namespace/name (a chart release called keybrake: <its namespace>/keybrake-proxy); snapshots carry upstream keys and go to no other ServiceAccount",
    );
  for (const sa of accounts)
    if (!SERVICE_ACCOUNT.test(sa))
      throw new UsageError(
        `--proxy-service-account ${sa}: expected namespace/name, such as keybrake-system/keybrake-proxy`,
      );
  return [...accounts];
}
