import { describe, expect, it } from 'vitest';
import { normaliseAddress } from './mailbox.ts';

// The one mailbox reader Resend's recipients and senders and Twilio Verify's email share. Seventh
// round: each was judged as the one ASCII mailbox in it, while NFKC folds the character into
// mailbox syntax, so a reader that folds sees another address, a quoted name or a comment.
describe('normaliseAddress', () => {
  it.each([
    ['＠ (U+FF20) in a display name', 'evil\uff20x.com <ann@example.com>'],
    ['﹫ (U+FE6B) in a display name', 'ceo\ufe6bbank.com <a@support.example.com>'],
    ['， (U+FF0C) after a display name', 'evil\uff20x.com\uff0c<ann@example.com>'],
    ['＠ in a local part', 'evil\uff20x.com@example.com'],
    ['； (U+FF1B) in a display name', 'Ann\uff1b <ann@example.com>'],
    ['： (U+FF1A) in a display name: a group', 'Team\uff1a <ann@example.com>'],
    ['＂ (U+FF02) quoting a display name', '\uff02Ann\uff02 <ann@example.com>'],
    ['（ and ） (U+FF08, U+FF09): a comment', 'Ann \uff08CEO\uff09 <ann@example.com>'],
    ['⑴, which folds to a parenthesis', 'Ann \u2474 <ann@example.com>'],
    ['＼ (U+FF3C) in a display name', 'Ann \uff3c <ann@example.com>'],
    ['≮, a bracket and a combining stroke once decomposed', 'Ann \u226e <ann@example.com>'],
  ])('refuses %s', (_name, text) => {
    expect(normaliseAddress(text)).toBeUndefined();
  });
});
