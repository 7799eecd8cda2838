// A TCP relay a test puts between a client and a server (the operator and its API server) to break
// the connections in between the ways networks do: `cut()` resets them (a restarted API server, a
// load balancer that drops them), `silence()` leaves them open but carrying nothing, no RST (a dead
// API server node, a dropped conntrack entry): the client's kernel still has the socket, so only its
// own timeouts can tell; `hold()` keeps them open and carrying nothing until `release()` delivers
// every byte held, in order (a partition that heals before TCP gives up, a Redis paused and resumed).
// `resetWhoSent()` resets, again and again, every connection whose client sent a given command (a
// Redis restarting in a loop, CLIENT KILL in a loop, a proxy in front of Redis failing over), new
// ones included; `toClient` rewrites what the server sends (a middlebox that mangles a protocol).
// New connections otherwise always pass. Deliberately independent of Keybrake's code.
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpRelay {
  /** `127.0.0.1:<port>`: where the client should connect instead of the target. */
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far (each new one after a break shows the client reconnected). */
  connections(): number;
  /** Connections currently relaying bytes (not silenced, not closed). */
  live(): number;
  /** Resets every open connection, both sides. */
  cut(): void;
  /** Every open connection from now on drops what it receives, both ways; new ones pass. */
  silence(): void;
  /** Every open connection from now on holds what it receives, both ways; new ones pass. */
  hold(): void;
  /** Delivers what every held connection holds, in order, and lets them carry bytes again. */
  release(): void;
  /**
   * From now on every connection whose client has sent bytes matching `pattern` (the `watch` of
   * startTcpRelay), before or after this call, is reset, both sides, at its next byte either way
   * (the matching bytes themselves included: they are never passed on), until `stopResetting()`.
   */
  resetWhoSent(): void;
  stopResetting(): void;
  /** Resolves once `n` connections in all have been reset by resetWhoSent. */
  resets(n: number): Promise<void>;
  close(): Promise<void>;
}

export interface TcpRelayOptions {
  /** What `resetWhoSent()` looks for in what a client sends (each chunk on its own). */
  readonly watch?: RegExp;
  /** Per connection: what to pass on to the client of each chunk the server sends. */
  readonly toClient?: () => (chunk: Buffer) => Buffer;
}

export async function startTcpRelay(
  target: { host: string; port: number },
  opts: TcpRelayOptions = {},
): Promise<TcpRelay> {
  type Pair = {
    client: Socket;
    server: Socket;
    silent: boolean;
    held?: (() => void)[];
    /** The client sent bytes matching `opts.watch`. */
    marked: boolean;
  };
  const pairs = new Set<Pair>();
  let accepted = 0;
  let resetting = false;
  let resetCount = 0;
  const resetWaiters: { n: number; resolve: () => void }[] = [];
  const reset = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    pair.server.destroy();
    resetCount++;
    for (const w of [...resetWaiters])
      if (resetCount >= w.n) {
        resetWaiters.splice(resetWaiters.indexOf(w), 1);
        w.resolve();
      }
  };
  const server = createServer((client) => {
    accepted++;
    const upstream = tcpConnect(target.port, target.host);
    const pair: Pair = { client, server: upstream, silent: false, marked: false };
    pairs.add(pair);
    const toClient = opts.toClient?.();
    // Forwarding by hand (not pipe) so a silenced pair can keep reading and drop what it reads: the
    // sender's writes succeed, as they would into a network that loses them.
    const relay = (to: Socket) => (b: Buffer) => {
      if (to === upstream && opts.watch?.test(b.toString('latin1'))) pair.marked = true;
      if (resetting && pair.marked) return reset(pair);
      if (pair.silent) return;
      const out = to === client && toClient ? toClient(b) : b;
      if (out.length === 0) return;
      if (pair.held) pair.held.push(() => to.write(out));
      else to.write(out);
    };
    client.on('data', relay(upstream));
    upstream.on('data', relay(client));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', () => {
        // A silenced or held connection does not pass its peer's close on either: that is the point.
        if (!pair.silent && !pair.held) end();
      });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    address: `127.0.0.1:${address.port}`,
    port: address.port,
    connections: () => accepted,
    live: () => [...pairs].filter((p) => !p.silent && !p.held).length,
    cut() {
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.server.destroy();
      }
      pairs.clear();
    },
    silence() {
      for (const p of pairs) p.silent = true;
    },
    hold() {
      for (const p of pairs) p.held ??= [];
    },
    release() {
      for (const p of pairs) {
        const held = p.held ?? [];
        p.held = undefined;
        for (const write of held) write();
      }
    },
    resetWhoSent() {
      resetting = true;
    },
    stopResetting() {
      resetting = false;
    },
    resets(n) {
      if (resetCount >= n) return Promise.resolve();
      return new Promise((resolve) => resetWaiters.push({ n, resolve }));
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.server.destroy();
      }
      pairs.clear();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
