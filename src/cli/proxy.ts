import type { Flags } from './args.ts';

export const PROXY_SUMMARY = 'Runs a proxy replica that follows the operator snapshot stream.';
export const PROXY_FLAGS = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** Placeholder until the distribution layer lands; replaced wholesale. */
export async function proxyCommand(_argv: readonly string[]): Promise<{ close(): Promise<void> }> {
  throw new Error('keybrake proxy is not available in this build');
}
