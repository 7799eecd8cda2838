// nginx as a baseline hop: what a C reverse proxy costs on the same machine, to the same upstream.
// The benchmark writes its own nginx.conf into a temporary directory and runs nginx in the
// foreground (one worker, like Keybrake's one event loop) with an upstream keepalive pool, so it
// needs nothing from the system's nginx configuration. Readiness is a 200 through it, awaited with
// a deadline.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HOP_AUTHORIZATION } from './hops/common.ts';
import { childrenOf, toolVersion } from './procfs.ts';

/** The nginx version, or undefined when `nginx` is not on PATH (the variant is then skipped). */
export function nginxVersion(): string | undefined {
  return toolVersion('nginx', ['-v'], /nginx\/(\S+)/);
}

export const NGINX_MISSING =
  'NGINX BASELINE SKIPPED: nginx is not installed. Install it (apt-get install -y nginx-light, or nginx; brew install nginx) and run again.';

export interface Nginx {
  readonly url: string;
  /** Master and worker: CPU is the sum of both; syscalls are counted on the worker. */
  readonly pids: readonly number[];
  readonly workerPid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

function config(dir: string, port: number, upstream: URL): string {
  const temp = (name: string) => `${name}_temp_path ${path.join(dir, name)};`;
  return `# Written by bench/nginx.ts for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root root;' : ''}
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}
  client_max_body_size 256k;
  keepalive_requests 100000;
  upstream bench_upstream {
    server ${upstream.host};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "${HOP_AUTHORIZATION}";
    }
  }
}
`;
}

/** Starts nginx in front of `upstream`; resolves once a GET through it answers 200. */
export async function startNginx(upstream: string): Promise<Nginx> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-bench-nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, port, new URL(upstream)));
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf, '-e', 'stderr'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = `${stderr}${d}`.slice(-4_000);
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT'); // graceful: the worker finishes, the master removes its pid file
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  let exitCode: number | null | undefined;
  void exited.then(([code]) => {
    exitCode = code as number | null;
  });
  try {
    // Ready when a request through it is answered; each failed attempt waits for its own connection
    // error, so this loop is paced by nginx, not by a timer.
    for (;;) {
      if (exitCode !== undefined) throw new Error(`nginx exited with ${exitCode}:\n${stderr}`);
      const ok = await fetch(`${url}/v1/customers`, { signal: AbortSignal.timeout(1_000) })
        .then((r) => r.arrayBuffer().then(() => r.status === 200))
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`nginx did not answer within 10 s:\n${stderr}`);
      await new Promise((r) => setImmediate(r));
    }
    const workers = childrenOf(child.pid!);
    if (workers.length !== 1) throw new Error(`expected one nginx worker, found ${workers.length}`);
    return { url, pids: [child.pid!, workers[0]!], workerPid: workers[0]!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
