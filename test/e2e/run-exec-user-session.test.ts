// `run exec --user` and what the command shares with its runner beyond the environment (thirteenth
// round, probe runs13):
// 1. (HIGH) the command stayed in the runner's session, with the runner's controlling terminal: as
//    nobody it pushed `cat parent.token > /tmp/x` into the operator's terminal with TIOCSTI (on its
//    stdin, or on /dev/tty with stdio redirected), and root's shell ran it once run exec had exited.
//    Now the command has a session of its own: TIOCSTI is refused, /dev/tty does not open.
// 2. (LOW) a descriptor the runner's parent left open on the token file (`exec 30<parent.token`)
//    reached the command, which read the parent token from it, minted a run of its own and spent
//    past its run's cap. Now every inheritable descriptor above 2 is /dev/null in the command.
// And what the session costs must not cost more: the terminal's signals still reach the command
// (its whole process group), its exit code is still run exec's, and Ctrl-Z says why it does nothing.
// Real `keybrake serve` and the real CLI; the Stripe emulator records what reached the upstream.
// The tests need root (--user does); as another user they check the refusal only.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { CLI, type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { waitFor } from '../env/wait-for.ts';
import { mintKeys, UPSTREAM_KEY } from './fixtures/replicas.ts';

const TTY_SESSION = path.join(import.meta.dirname, 'fixtures/tty-session.py');
const PYTHON = '/usr/bin/python3';
const root = process.getuid?.() === 0;

let emulator: StripeEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let work: string;
/** Where the command (nobody) writes: a directory anyone may write in, under `work`. */
let out: string;
let tokenFile: string;
const { files, keys } = mintKeys([{ name: 'bot', limits: { perRunUsd: '10', perDayUsd: '1000' } }]);

beforeAll(async () => {
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  dir = await manifestDir(files);
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: emulator.url }));
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-exec-user-'));
  await chmod(work, 0o755);
  out = path.join(work, 'out');
  await mkdir(out);
  await chmod(out, 0o777);
  // Root's, 0600: what --user requires, and what nobody cannot open by its path.
  tokenFile = path.join(work, 'parent-token');
  await writeFile(tokenFile, `${keys.bot.token}\n`, { mode: 0o600 });
});

/** What a test started that must not outlive it, even when it fails or times out. */
let leftovers: (() => Promise<void>) | undefined;
afterEach(async () => {
  await leftovers?.();
  leftovers = undefined;
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

const chargePosts = () =>
  emulator.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

const execArgs = (runId: string, command: string[]) => [
  CLI,
  ...['run', 'exec', '--admin', kb.urls['admin']!, '--key', 'agents/bot', '--cap', '1'],
  ...['--token-file', tokenFile, '--user', '65534:65534', '--run-id', runId, '--', ...command],
];

/** Runs `argv` to its end: its exit code and outputs. */
async function finish(proc: ChildProcess) {
  let stdout = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

it('a --user command cannot type into the operator terminal, on its stdin or on /dev/tty', async () => {
  // The command tries both ways the probe used: TIOCSTI on fd 0 (the terminal, inherited) and on
  // /dev/tty (its controlling terminal, whatever its stdio). Whatever it pushes would wait in the
  // terminal's input, for the operator's root shell to read and run after run exec exits.
  const inject = [
    'import errno, fcntl, json, os, termios',
    'def push(fd):',
    '    try:',
    "        [fcntl.ioctl(fd, termios.TIOCSTI, bytes([c])) for c in b'cat /etc/shadow\\n']",
    "        return 'pushed'",
    '    except OSError as e:',
    '        return errno.errorcode[e.errno]',
    "r = {'stdin': push(0)}",
    'try:',
    "    r['devtty'] = push(os.open('/dev/tty', os.O_RDWR))",
    'except OSError as e:',
    "    r['devtty'] = errno.errorcode[e.errno]",
    `open(${JSON.stringify(path.join(out, 'tty.json'))}, 'w').write(json.dumps(r))`,
  ].join('\n');
  const report = path.join(work, 'tty-report.json');
  const session = spawn(
    PYTHON,
    [TTY_SESSION, report, '--', process.execPath, ...execArgs('tty-1', [PYTHON, '-c', inject])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const r = await finish(session);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const { code, queued } = JSON.parse(await readFile(report, 'utf8')) as { code: number; queued: number };
  if (!root) {
    expect(code).toBe(2);
    expect(r.stdout).toContain('needs keybrake run exec to run as root');
    return;
  }
  expect(code, r.stdout).toBe(0);
  expect(r.stdout).toContain('stopped run tty-1');
  // EPERM: TIOCSTI on a terminal that is not the caller's controlling terminal. (On a kernel built
  // without legacy TIOCSTI it is EIO either way; /dev/tty's ENXIO below does not depend on that.)
  expect(JSON.parse(await readFile(path.join(out, 'tty.json'), 'utf8'))).toEqual({
    stdin: expect.not.stringMatching(/^pushed$/),
    devtty: 'ENXIO',
  });
  // Nothing waits in the terminal's input for the shell.
  expect(queued).toBe(0);
});

it('a --user command inherits no descriptor of its runner above 2: the token file open on fd 30 reaches nothing', async () => {
  const stolen = path.join(out, 'fd30');
  // The probe's runner: a shell that opened the token file on fd 30 and left it inheritable. The
  // command, which cannot open the file, copies whatever fd 30 holds, and what fd 30 is.
  const command = `cat <&30 > ${stolen} 2>/dev/null; readlink /proc/self/fd/30 > ${stolen}.link; exit 3`;
  const runner = spawn(
    '/bin/bash',
    [
      '-c',
      'exec 30<"$1"; shift; exec "$@"',
      'bash',
      tokenFile,
      process.execPath,
      ...execArgs('fd-1', ['/bin/bash', '-c', command]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const r = await finish(runner);
  if (!root) {
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs keybrake run exec to run as root');
    return;
  }
  expect(r.code, r.stderr).toBe(3);
  expect(r.stderr).toContain('stopped run fd-1');
  expect((await readFile(`${stolen}.link`, 'utf8')).trim()).toBe('/dev/null');
  // What the command got is what it would mint with: try, and spend with whatever came of it.
  const got = (await readFile(stolen, 'utf8')).trim();
  expect(got).toBe('');
  const before = chargePosts();
  const minted = await request(`${kb.urls['admin']}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${got || 'nothing'}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'agents/bot', runId: 'self-minted' }),
  });
  const body = (await minted.body.json()) as { token?: string };
  expect(minted.statusCode).toBe(401);
  const charged = await request(`${kb.urls['stripe']}/v1/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${body.token ?? got}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'amount=100&currency=usd&source=tok_visa',
  });
  await charged.body.dump();
  expect(charged.statusCode).toBe(401);
  expect(chargePosts() - before).toBe(0);
});

it('a --user command in its own session still gets the terminal signals, on its whole group, and its exit code is run exec’s', async () => {
  // sh traps SIGINT but runs it only once its foreground `sleep` has ended: run exec exits 5 only
  // if the SIGINT reached sleep too (the command's process group, as a terminal's Ctrl-C does), and
  // would wait out the sleep otherwise. SIGTSTP first: answered with a notice, the runner not stopped.
  const shPid = path.join(out, 'sh.pid');
  const command = `trap 'exit 5' INT; echo $$ > ${shPid}; echo ready; sleep 1000; exit 0`;
  const runner = spawn(process.execPath, execArgs('sig-1', ['/bin/sh', '-c', command]), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = finish(runner);
  let stdout = '';
  let stderr = '';
  runner.stdout!.on('data', (d: string) => {
    stdout += d;
  });
  runner.stderr!.on('data', (d: string) => {
    stderr += d;
  });
  if (!root) {
    expect((await result).code).toBe(2);
    return;
  }
  // On a failure or a timeout, nothing of this test is left running (a stopped runner, a sleep of nobody's).
  leftovers = async () => {
    if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
    const sh = Number(await readFile(shPid, 'utf8').catch(() => '0'));
    if (sh > 0) {
      const children = await readFile(`/proc/${sh}/task/${sh}/children`, 'utf8').catch(() => '');
      for (const pid of [sh, ...children.split(' ').filter(Boolean).map(Number)])
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
    }
  };
  await waitFor(() => expect(stdout).toContain('ready'));
  runner.kill('SIGTSTP');
  await waitFor(() => expect(stderr).toContain('cannot be suspended'));
  runner.kill('SIGINT');
  const r = await result;
  expect(r.code, r.stderr).toBe(5);
  expect(r.stderr).toContain('stopped run sig-1');
});
