import type { Flags } from './args.ts';

export const OPERATOR_SUMMARY = 'Reconciles VaultKey and SpendPolicy resources and serves snapshots to proxies.';
export const OPERATOR_FLAGS = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** Placeholder until the operator lands; replaced wholesale. */
export async function operatorCommand(_argv: readonly string[]): Promise<{ close(): Promise<void> }> {
  throw new Error('keybrake operator is not available in this build');
}
