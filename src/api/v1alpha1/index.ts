export * from './meta.ts';
export * from './secret.ts';
export * from './spend-policy.ts';
export * from './vault-key.ts';
