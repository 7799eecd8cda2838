import { describe, expect, it } from 'vitest';
import { isDisplayName, normaliseAddress } from './mailbox.ts';

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

// Thirteenth round (fixes13x finding 5): an RFC 2047 encoded word in a display name is decoded by
// mail readers, and shows the text the display-name rules refuse.
describe('encoded words in display names', () => {
  const b = (text: string) => `=?utf-8?B?${Buffer.from(text).toString('base64')}?=`;
  it.each([
    ['a B-encoded name and address', b('CEO <ceo@evil.test>')],
    ['a Q-encoded address', '=?utf-8?Q?ceo=40evil.test?='],
    ['an encoded word between plain words', 'Support =?iso-8859-1?q?=E9quipe?= Team'],
    ['an encoded word with an empty text', '=?utf-8?B??='],
    ['an upper-case encoding', '=?UTF-8?Q?CEO?='],
  ])('refuses %s in a from_name and before an address, quoted or not', (_name, name) => {
    expect(isDisplayName(name)).toBe(false);
    expect(normaliseAddress(`${name} <bot@support.example.com>`)).toBeUndefined();
    expect(normaliseAddress(`"${name}" <bot@support.example.com>`)).toBeUndefined();
  });

  it.each([
    ['a name with an equals sign', 'A=B Support'],
    ['a name with a question mark', 'Support?'],
    ['a name with =? and no end', 'Who =? us'],
  ])('passes %s', (_name, name) => {
    expect(isDisplayName(name)).toBe(true);
    expect(normaliseAddress(`"${name}" <bot@support.example.com>`)).toBe('bot@support.example.com');
  });
});
