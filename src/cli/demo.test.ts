import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { demo } from './demo.ts';

// Seventh round: read by Number(), `--charges 0x10` was 16 charges and `--amount 1e1` $10 each.
// Refused before anything starts (no emulator, no proxy).
describe('demo flags', () => {
  it.each([
    ['--charges', '0x10', '--charges must be 1..10000'],
    ['--charges', '1e3', '--charges must be 1..10000'],
    ['--charges', ' 12 ', '--charges must be 1..10000'],
    // Twelfth round (probe12-newuser finding 6): these said "at least 0.50" whatever was wrong, and
    // 10.123 ran as $10.12 without a word. Each refusal now names its own rule.
    ['--amount', '1e1', '--amount must be a decimal USD amount such as 9.99'],
    ['--amount', '1e3', '--amount must be a decimal USD amount such as 9.99'],
    ['--amount', '0x10', '--amount must be a decimal USD amount such as 9.99'],
    ['--amount', ' 9.99', '--amount must be a decimal USD amount such as 9.99'],
    ['--amount', '10.123', '--amount has more than two decimals (10.123): a charge is whole cents'],
    ['--amount', '99999999999', "--amount must be at most 999999.99 (Stripe's largest USD charge)"],
    ['--amount', '1000000', '--amount must be at most 999999.99'],
    ['--amount', '0.49', "--amount must be at least 0.50 (Stripe's smallest USD charge)"],
    ['--cap', '1e2', '--cap must be a decimal USD amount'],
  ])('refuses %s %j', async (flag, value, message) => {
    const run = demo([flag, value]);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(message);
  });
});
