import { appendFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { canaryRun, outputFile } from './canary.ts';
import { CLI } from './keybrake.ts';

/** A real MCP server over stdio, driven by the MCP SDK client, and what it wrote to stderr. */
export interface McpServer {
  readonly client: Client;
  stderr(): string;
  close(): Promise<void>;
}

/**
 * Spawns `node <args>` as an MCP server and connects a client to it. The server runs on the pinned
 * Node 24 that runs the tests (`process.execPath`), with only the environment given, in `cwd` (some
 * servers read a `.env` from their working directory).
 */
export async function connectMcpServer(opts: {
  args: string[];
  env: Record<string, string>;
  cwd: string;
}): Promise<McpServer> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: opts.args,
    env: opts.env,
    cwd: opts.cwd,
    stderr: 'pipe',
  });
  let stderr = '';
  // `keybrake run exec -- <server>` as the MCP server: its stderr (Keybrake's own lines and the
  // server's) is an output the canary scan reads (test/env/canary.ts). Its stdout is the MCP stream.
  const canary = opts.args[0] === CLI ? await canaryRun() : undefined;
  const file = canary
    ? outputFile(canary, `mcp-${opts.args.slice(1, 3).join('-')}-${process.pid}-${Date.now()}.stderr`)
    : undefined;
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (file !== undefined) {
      try {
        appendFileSync(file, chunk);
      } catch {
        // The run directory is gone: the run is over.
      }
    }
  });
  const client = new Client({ name: 'keybrake-e2e', version: '0.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}
