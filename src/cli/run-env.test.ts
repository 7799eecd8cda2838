import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mintRunToken, runSecretFor } from '../tokens/run-token.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { commandEnvironment, withheldNotice } from './run-env.ts';

const PARENT = 'kb_stripe_parentTokenBody0123456789abcdef';
const run = {
  credential: PARENT,
  token: 'kb_stripe_r1_runkey',
  runId: 'run-1',
  variables: ['MY_STRIPE_KEY'],
};

describe('commandEnvironment', () => {
  it('hands over the run key and run id, and the rest of the runner environment', () => {
    const { env, withheld } = commandEnvironment({ PATH: '/usr/bin', KEYBRAKE_RUN_ID: 'outer' }, run);
    expect(env).toEqual({ PATH: '/usr/bin', KEYBRAKE_RUN_ID: 'run-1', MY_STRIPE_KEY: 'kb_stripe_r1_runkey' });
    expect(withheld).toEqual([]);
  });

  // Sixth round: STRIPE_SECRET_KEY=<parent token> in the runner's environment reached the command.
  it('drops every variable whose value contains the credential, and names them', () => {
    const { env, withheld } = commandEnvironment(
      {
        STRIPE_SECRET_KEY: PARENT,
        AUTH_HEADER: `Bearer ${PARENT}`,
        UPSTREAM: `https://${PARENT}@api.example.com`,
        PATH: '/usr/bin',
      },
      run,
    );
    expect(env).toEqual({ PATH: '/usr/bin', KEYBRAKE_RUN_ID: 'run-1', MY_STRIPE_KEY: 'kb_stripe_r1_runkey' });
    expect(withheld).toEqual(['STRIPE_SECRET_KEY', 'AUTH_HEADER', 'UPSTREAM']);
    expect(JSON.stringify(env)).not.toContain(PARENT);
  });

  it('does not name a variable that it sets again to the run key', () => {
    const { env, withheld } = commandEnvironment(
      { STRIPE_SECRET_KEY: PARENT },
      { ...run, variables: ['STRIPE_SECRET_KEY', 'STRIPE_API_KEY'] },
    );
    expect(env['STRIPE_SECRET_KEY']).toBe('kb_stripe_r1_runkey');
    expect(withheld).toEqual([]);
  });

  it('keeps a value that holds only part of the credential, and always withholds KEYBRAKE_TOKEN_FILE', () => {
    const { env, withheld } = commandEnvironment(
      { PARTIAL: PARENT.slice(0, 24), KEYBRAKE_TOKEN_FILE: '/etc/keybrake/parent.token' },
      run,
    );
    expect(env['PARTIAL']).toBe(PARENT.slice(0, 24));
    expect(env).not.toHaveProperty('KEYBRAKE_TOKEN_FILE');
    expect(withheld).toEqual([]);
  });

  // Sixth round: `NAME_<token>=x` reached the command, and stderr printed the name, token and all.
  it('drops every variable whose name contains the credential, and counts them without naming them', () => {
    const result = commandEnvironment(
      {
        [`NAME_${PARENT}`]: PARENT,
        [`ONLYNAME_${PARENT}`]: 'x',
        STRIPE_SECRET_KEY: PARENT,
        PATH: '/usr/bin',
      },
      run,
    );
    expect(result.env).toEqual({
      PATH: '/usr/bin',
      KEYBRAKE_RUN_ID: 'run-1',
      MY_STRIPE_KEY: 'kb_stripe_r1_runkey',
    });
    expect(result.withheld).toEqual(['STRIPE_SECRET_KEY']);
    expect(result.withheldUnnamed).toBe(2);
    const notice = withheldNotice(result);
    expect(notice).not.toContain(PARENT);
    expect(notice).toBe(
      'keybrake run exec: not passing STRIPE_SECRET_KEY to the command: the value holds the credential of --token-file, which mints runs, or another Keybrake key; ' +
        'not passing 2 variables to the command: the name holds the credential of --token-file, which mints runs, or another Keybrake key (not printed)\n',
    );
  });

  it('prints no notice when nothing was left out', () => {
    expect(withheldNotice(commandEnvironment({ PATH: '/usr/bin' }, run))).toBeUndefined();
  });

  // Sixth round: a variable named `X\e[31m\nkeybrake run exec: all good` coloured the terminal and
  // forged a line of stderr.
  it('prints the names it leaves out with their control characters escaped, on one line', () => {
    const forged = 'X\u001b[31m\nkeybrake run exec: all good';
    const notice = withheldNotice(commandEnvironment({ [forged]: PARENT }, run));
    expect(notice).toBe(
      'keybrake run exec: not passing X\\x1b[31m\\nkeybrake run exec: all good to the command: the value holds the credential of --token-file, which mints runs, or another Keybrake key\n',
    );
  });

  // Thirteenth round: with `--user`, the command could not read the token file, but got the parent
  // token from STRIPE_BASIC (base64), KB_URL (percent-encoded) or KB_JSON (JSON-escaped), and another
  // key's vault token as it was; it decoded the parent and minted runs of its own.
  describe('encoded copies of the credential, and other Keybrake keys', () => {
    const parent = newToken('stripe', { random: () => new Uint8Array(24).fill(3) });
    const other = newToken('twilio', { random: () => new Uint8Array(24).fill(4) });
    const custom = newToken('stripe', { random: () => new Uint8Array(24).fill(6), prefix: 'acme_' });
    const ownPrefix = newToken('stripe', { random: () => new Uint8Array(24).fill(8), prefix: 'acme_' });
    const outerRun = mintRunToken(
      { tokenPrefix: 'kb_twilio_', digest: tokenDigest(other), runSecret: runSecretFor(other, 'u') },
      { runId: 'outer', issuedAt: 1_900_000_000_000, expiresAt: 2_000_000_000_000 },
    );
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const u = (text: string) => text.replaceAll('_', '\\u005f');
    const wide = (text: string) =>
      text.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));
    const exec = { ...run, credential: parent };
    it.each([
      ['in a Basic credential', `Basic ${b64(`${parent}:`)}`],
      ['in base64 after one byte', b64(`x${parent}`)],
      ['in base64url after two bytes', Buffer.from(`xy${parent}`).toString('base64url')],
      ['percent-encoded in a URL', `https://x/?k=${parent.replaceAll('_', '%5F')}`],
      ['JSON-escaped', `{"k":"${u(parent)}"}`],
      ['with its checksum left off', parent.slice(0, -6)],
      [
        'with a character mistyped',
        `${parent.slice(0, 20)}${parent[20] === 'Q' ? 'R' : 'Q'}${parent.slice(21)}`,
      ],
      ["another key's vault token", other],
      ["another key's vault token in a Basic credential", `Basic ${b64(`AC0:${other}`)}`],
      ["another key's vault token, JSON-escaped", `{"k":"${u(other)}"}`],
      ["another key's vault token, percent-encoded", encodeURIComponent(other).replaceAll('_', '%5F')],
      ['a run key', outerRun],
      // Fourteenth round: near misses past one edit, and another key's (their shape).
      ['upper-cased', parent.toUpperCase()],
      ['with its checksum and one body character left out', parent.slice(0, 20) + parent.slice(21, -6)],
      ["another key's vault token with a '-' in its body", `${other.slice(0, 26)}-${other.slice(26)}`],
      ["another key's vault token with its prefix mistyped", `kb-${other.slice(3)}`],
      ["another key's vault token with a prefix character left out", `kb${other.slice(3)}`],
      ["another key's vault token upper-cased", other.toUpperCase()],
      // Fourteenth round (fixes14b finding 2): in fullwidth letters, which NFKC gives back.
      ['in fullwidth letters', wide(parent)],
      ["another key's vault token in fullwidth letters", `token=${wide(other)}`],
      ['in fullwidth letters, percent-encoded', encodeURIComponent(wide(parent))],
    ])('withholds the parent token %s', (_what, value) => {
      const { env, withheld } = commandEnvironment({ VALUE: value, PATH: '/usr/bin' }, exec);
      expect(env).toEqual({
        PATH: '/usr/bin',
        KEYBRAKE_RUN_ID: 'run-1',
        MY_STRIPE_KEY: 'kb_stripe_r1_runkey',
      });
      expect(withheld).toEqual(['VALUE']);
    });

    it('finds a token of the prefix its own credential has, and the credential in a name', () => {
      const mine = { ...run, credential: custom };
      expect(commandEnvironment({ VALUE: ownPrefix }, mine).withheld).toEqual(['VALUE']);
      expect(commandEnvironment({ VALUE: ownPrefix }, exec).withheld).toEqual([]);
      const named = commandEnvironment({ [`K_${b64(parent)}`]: '1' }, exec);
      expect(named.withheldUnnamed).toBe(1);
      expect(withheldNotice(named)).not.toContain(b64(parent).slice(0, 20));
    });

    it('keeps ordinary values: ids, hashes, base64 of other text', () => {
      const env = {
        A: 'cus_NffrFeUfNV2Hib',
        B: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        C: b64('a long enough sentence that is nothing like a Keybrake key at all, really'),
        D: 'kb_stripe_ is the prefix Keybrake uses',
      };
      expect(commandEnvironment(env, exec).withheld).toEqual([]);
    });

    it('keeps long honest base64: an RSA private key, an ID token (fourteenth round, fixes14b finding 3)', () => {
      // Until then every run of 31 letters and digits counted towards a bound of 64 places, so a
      // runner's 4096-bit key or a 2.7 KB JWT was withheld ("holds ... another Keybrake key").
      const rsa = generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string;
      const jwt = `eyJhbGciOiJSUzI1NiJ9.${randomBytes(1800).toString('base64url')}.${randomBytes(256).toString('base64url')}`;
      const env = {
        GITHUB_APP_PRIVATE_KEY: rsa,
        AZURE_ID_TOKEN: jwt,
        AWS: randomBytes(2400).toString('base64'),
      };
      expect(commandEnvironment(env, exec).withheld).toEqual([]);
    });
  });
});
