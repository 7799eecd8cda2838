import type { SpendPolicy } from '../api/v1alpha1/index.ts';
import { type MicroUsd, parseUsd } from '../money/micro-usd.ts';
import { compileEndpointPattern, compileValuePattern } from '../patterns/glob.ts';
import { compileHostPattern } from '../patterns/hosts.ts';
import type { CompiledLimits, CompiledPolicy } from '../snapshot/types.ts';

/** A validated SpendPolicy → its compiled form (patterns built once) plus its own expiry. */
export function compilePolicy(policy: SpendPolicy): { policy: CompiledPolicy; expiresAt?: number } {
  const { spec, metadata } = policy;
  const allow = spec.allow ?? {};
  const limits = spec.limits ?? {};
  const compiledLimits: CompiledLimits = {
    ...usd('perCallMicros', limits.perCallUsd),
    ...usd('perDayMicros', limits.perDayUsd),
    ...usd('perMonthMicros', limits.perMonthUsd),
    ...usd('perRunMicros', limits.perRunUsd),
    ...(limits.requestsPerMinute !== undefined && { requestsPerMinute: limits.requestsPerMinute }),
  };
  const compiled: CompiledPolicy = {
    ref: `${metadata.namespace}/${metadata.name}`,
    limits: compiledLimits,
    timezone: spec.timezone,
    ...(allow.endpoints && { endpoints: allow.endpoints.map(compileEndpointPattern) }),
    ...(allow.customers && { customers: new Set(allow.customers) }),
    ...(allow.accounts && { accounts: new Set(allow.accounts) }),
    ...(allow.recipients && {
      recipients: allow.recipients.map((r) => compileValuePattern(r, { caseInsensitive: true })),
    }),
    ...(allow.senders && {
      senders: allow.senders.map((r) => compileValuePattern(r, { caseInsensitive: true })),
    }),
    ...(allow.countries && { countries: new Set(allow.countries) }),
    ...(allow.currencies && { currencies: new Set(allow.currencies) }),
    ...(allow.twimlHosts && { twimlHosts: allow.twimlHosts.map(compileHostPattern) }),
    readsWhenStoreDown: spec.readsWhenCountersDown === 'allow',
    ...(spec.requireRunId && { requireRunId: true }),
  };
  return spec.expiresAt === undefined
    ? { policy: compiled }
    : { policy: compiled, expiresAt: Date.parse(spec.expiresAt) };
}

function usd<K extends string>(key: K, text: string | undefined): { [P in K]?: MicroUsd } {
  if (text === undefined) return {};
  const micros = parseUsd(text);
  // The schema already refuses these; a throw here becomes a PolicyInvalid condition, never a crash.
  if (micros === undefined) throw new Error(`limit "${key}" is not a decimal USD amount`);
  return { [key]: micros } as { [P in K]?: MicroUsd };
}
