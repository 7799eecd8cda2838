import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { tokenCommand } from './token.ts';

describe('token new --secret', () => {
  it('prints a Secret manifest with the token under the data key', () => {
    const out = tokenCommand(['new', '--vendor', 'stripe', '--secret', 'bot-token', '--namespace', 'agents']);
    expect(out).toMatch(/name: bot-token\n\s+namespace: agents/);
    expect(out).toMatch(/stringData:\n\s+token: kb_stripe_/);
  });

  it('labels the Secret so the operator sees it (it never labels a Secret it did not mint)', () => {
    const out = tokenCommand(['new', '--vendor', 'stripe', '--secret', 'bot-token']);
    expect(out).toMatch(/labels:\n(\s+\S+: \S+\n)*\s+keybrake.dev\/secret: "true"\n/);
  });

  // Found by a new-user walkthrough: KEYBRAKE_KEY (run's VaultKey, agents/bot) became the data key.
  it.each([
    [
      'a data key with a slash',
      ['--key', 'agents/support-bot-stripe'],
      /--key agents\/support-bot-stripe: a Secret data key/,
    ],
    ['a Secret name in upper case', ['--secret', 'Bot'], /--secret Bot: a Secret name/],
    ['a namespace with a dot', ['--namespace', 'a.b'], /--namespace a.b: a namespace/],
  ])('refuses %s', (_name, flags, message) => {
    const argv = ['new', '--vendor', 'stripe', '--secret', 'bot-token', ...flags];
    expect(() => tokenCommand(argv)).toThrow(UsageError);
    expect(() => tokenCommand(argv)).toThrow(message);
  });
});
