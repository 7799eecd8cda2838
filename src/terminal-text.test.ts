import { describe, expect, it } from 'vitest';
import { escapeForTerminal, SHOWN_NAME_CHARS, shownName } from './terminal-text.ts';

describe('escapeForTerminal', () => {
  it.each([
    ['a colour sequence', 'a/x\u001b[31mRED', 'a/x\\x1b[31mRED'],
    [
      'a line break that would forge a line',
      'x\nkeybrake run exec: all good',
      'x\\nkeybrake run exec: all good',
    ],
    ['a carriage return, a tab, NUL and DEL', 'a\rb\tc\u0000d\u007f', 'a\\rb\\tc\\x00d\\x7f'],
    ['a one-character CSI (C1)', 'a\u009b2J', 'a\\x9b2J'],
    ['a bidi override and a zero-width space', 'abc\u202edcb\u200b', 'abc\\u{202e}dcb\\u{200b}'],
    ['a line separator and a lone surrogate', 'a\u2028b\ud800', 'a\\u{2028}b\\u{d800}'],
  ])('spells %s visibly', (_, text, shown) => {
    expect(escapeForTerminal(text)).toBe(shown);
  });

  it('leaves printable text as it is, non-ASCII letters and a backslash included, and is idempotent', () => {
    const text = 'SpendPolicy agents/süpport-bot: C:\\path «ok» 💸';
    expect(escapeForTerminal(text)).toBe(text);
    const once = escapeForTerminal('a\u001bb\nc');
    expect(escapeForTerminal(once)).toBe(once);
  });
});

describe('shownName', () => {
  it('quotes a short name whole, escaped', () => {
    expect(shownName('suspend')).toBe('suspend');
    expect(shownName('\u001b]0;x\u0007')).toBe('\\x1b]0;x\\x07');
  });

  it(`cuts a long name to ${SHOWN_NAME_CHARS} characters, then …, never half a surrogate pair`, () => {
    const shown = shownName(`\u001b[2J${'f'.repeat(700_000)}`);
    expect(shown).toBe(`\\x1b[2J${'f'.repeat(SHOWN_NAME_CHARS - 4)}…`);
    const pair = shownName(`${'a'.repeat(SHOWN_NAME_CHARS - 1)}💸tail`);
    expect(pair).toBe(`${'a'.repeat(SHOWN_NAME_CHARS - 1)}…`);
  });
});
