import { describe, expect, it } from 'vitest';
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
      { PARTIAL: PARENT.slice(0, -1), KEYBRAKE_TOKEN_FILE: '/etc/keybrake/parent.token' },
      run,
    );
    expect(env['PARTIAL']).toBe(PARENT.slice(0, -1));
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
      'keybrake run exec: not passing STRIPE_SECRET_KEY to the command: the value holds the credential of --token-file, which mints runs; ' +
        'not passing 2 variables to the command: the name holds the credential of --token-file, which mints runs (not printed)\n',
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
      'keybrake run exec: not passing X\\x1b[31m\\nkeybrake run exec: all good to the command: the value holds the credential of --token-file, which mints runs\n',
    );
  });
});
