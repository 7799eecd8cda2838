// Real redis-server processes for the e2e suites (DESIGN.md §9: real dependencies in tests). Each
// server listens on a free loopback port, keeps nothing on disk, and dies with the test process.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** One running redis-server, as seen by a test. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** SIGTERM, waits for exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: Redis loses everything), waits for exit. */
  kill(): Promise<void>;
  /** Starts a fresh, empty server on the same port and waits until it answers. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server keeps its sockets but answers nothing (a hung node). */
  pause(): void;
  resume(): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Throws the install hint when a binary is missing, instead of a confusing spawn ENOENT later. */
export function requireBinary(name: string, pkg: string): void {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  if (r.error) throw new Error(`${name} not found: apt-get install -y ${pkg}`);
}

/** A loopback port nobody listens on now (and, with `plusBus`, whose cluster bus port is free too). */
export async function freePort(plusBus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (!plusBus) return port;
    if (port + 10_000 <= 65_535 && (await listenOnce(port + 10_000).catch(() => 0)) !== 0) return port;
  }
  throw new Error('no free loopback port found');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/** Sends one inline command and resolves with the first reply line, or rejects (refused, timeout). */
export function rawCommand(port: number, command: string, timeoutMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = '';
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.once('error', reject);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      // A bulk reply: "$<len>\r\n<payload>\r\n"; a status or error: one line.
      const bulk = /^\$(\d+)\r\n/.exec(buf);
      if (bulk) {
        const start = bulk[0].length;
        const len = Number(bulk[1]);
        if (Buffer.byteLength(buf) < start + len + 2) return;
        socket.end();
        resolve(buf.slice(start, start + len));
      } else if (buf.includes('\r\n')) {
        socket.end();
        resolve(buf.slice(0, buf.indexOf('\r\n')));
      }
    });
  });
}

/** Polls `check` until it returns true or the deadline passes (then throws `what`). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** Spawns redis-server with `args` on `port`; resolves when it answers PING, rejects if it exits first. */
export async function spawnRedis(port: number, args: string[] = [], cwd?: string): Promise<ChildProcess> {
  requireBinary('redis-server', 'redis-server');
  const child = spawn(
    'redis-server',
    ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) },
  );
  live.add(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output = (output + c.toString('utf8')).slice(-4_000);
  });
  child.stderr?.on('data', (c: Buffer) => {
    output = (output + c.toString('utf8')).slice(-4_000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    live.delete(child);
  });
  await waitFor(`redis-server on port ${port}`, async () => {
    if (exited) throw new Error(`redis-server on port ${port} exited:\n${output}`);
    return (await rawCommand(port, 'PING')) === '+PONG';
  }).catch((err: Error) => {
    child.kill('SIGKILL');
    throw exited ? new Error(`redis-server on port ${port} exited during start-up:\n${output}`) : err;
  });
  return child;
}

export async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGCONT');
  child.kill(signal);
  await exited;
}

/** Starts one empty redis-server on a free loopback port. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined = await spawnRedis(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(child, 'SIGTERM');
      child = undefined;
    },
    kill: async () => {
      await stopProcess(child, 'SIGKILL');
      child = undefined;
    },
    restart: async () => {
      await stopProcess(child, 'SIGKILL');
      child = await spawnRedis(port);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}
