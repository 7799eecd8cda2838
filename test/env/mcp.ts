import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

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
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const client = new Client({ name: 'keybrake-e2e', version: '0.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}
