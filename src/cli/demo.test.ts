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
    ['--amount', '1e1', '--amount must be a USD amount of at least 0.50'],
    ['--amount', '0x10', '--amount must be a USD amount of at least 0.50'],
    ['--amount', ' 9.99', '--amount must be a USD amount of at least 0.50'],
    ['--cap', '1e2', '--cap must be a decimal USD amount'],
  ])('refuses %s %j', async (flag, value, message) => {
    const run = demo([flag, value]);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(message);
  });
});
