import { describe, expect, it } from 'vitest';
import { PatternError } from './glob.ts';
import { compileHostPattern, matchesHost, urlHost } from './hosts.ts';

describe('compileHostPattern', () => {
  it('keeps the source and lower-cases the host', () => {
    expect(compileHostPattern('TwiML.Example.com')).toEqual({
      source: 'TwiML.Example.com',
      host: 'twiml.example.com',
      wildcard: false,
    });
    expect(compileHostPattern('*.example.com')).toEqual({
      source: '*.example.com',
      host: '.example.com',
      wildcard: true,
    });
  });

  it.each([
    'https://twiml.example.com',
    'twiml.example.com/x',
    'twiml.example.com:443',
    'user@twiml.example.com',
    '*.*.example.com',
    'twiml*.example.com',
    '*example.com',
    '*.com.',
    'localhost',
    '-bad.example.com',
    'bad-.example.com',
    'twiml..example.com',
    '[::1]',
    ' twiml.example.com',
    '',
    `${'a'.repeat(64)}.example.com`,
  ])('refuses %j', (source) => {
    expect(() => compileHostPattern(source)).toThrow(PatternError);
  });
});

describe('matchesHost', () => {
  const patterns = ['twiml.example.com', '*.flows.example.org'].map(compileHostPattern);

  it.each([
    ['twiml.example.com', true],
    ['a.flows.example.org', true],
    ['a.b.flows.example.org', true],
    ['flows.example.org', false],
    ['attacker.twiml.example.com', false],
    ['twiml.example.com.evil.example', false],
    ['eviltwiml.example.com', false],
    ['xflows.example.org', false],
  ])('%s → %s', (host, allowed) => {
    expect(matchesHost(patterns, host)).toBe(allowed);
  });
});

describe('urlHost: one reading of a URL every parser shares', () => {
  it.each([
    ['https://twiml.example.com/flows/support', 'twiml.example.com'],
    ['http://TWIML.example.com:8080/x?y=1#z', 'twiml.example.com'],
    ['wss://stream.example.com/s', 'stream.example.com'],
    ['https://user:pass@twiml.example.com/x', 'twiml.example.com'],
    ['https://twiml.example.com', 'twiml.example.com'],
    // User information is not the host: this URL points at evil.example.
    ['https://twiml.example.com@evil.example/x', 'evil.example'],
  ])('%s → %s', (url, host) => {
    expect(urlHost(url)).toBe(host);
  });

  it.each([
    ['a relative URL', '/next'],
    ['a scheme-relative URL', '//twiml.example.com/x'],
    ['another scheme', 'ftp://twiml.example.com/x'],
    ['an upper-case scheme', 'HTTPS://twiml.example.com/x'],
    ['two @', 'https://a@twiml.example.com@evil.example/'],
    ['a backslash', 'https://evil.example\\@twiml.example.com/'],
    ['a backslash in the path', 'https://twiml.example.com/a\\b'],
    ['white space', 'https://twiml.example.com /x'],
    ['a tab', 'https://twiml.example.com/\tx'],
    ['a percent-encoded host', 'https://twiml%2eexample.com/'],
    ['an IPv6 literal', 'https://[::1]/x'],
    ['an IPv4 shorthand WHATWG rewrites', 'https://0x7f.1/x'],
    ['an empty host', 'https:///x'],
    ['nothing', ''],
  ])('refuses %s', (_name, url) => {
    expect(urlHost(url)).toBeUndefined();
  });
});
