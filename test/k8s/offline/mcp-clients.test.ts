// The MCP client configurations in examples/mcp/ (Claude Desktop, Cursor): they parse, pin the
// packages this repository tests, name only flags and variables those packages (and the Keybrake
// preload) read, point at Keybrake's default listeners, and each server really starts with them: the
// installed package, spawned with the configuration's arguments and environment, lists its tools
// and the preload says where it redirects.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROXY_RUNTIME_FLAGS } from '../../../src/cli/proxy-flags.ts';
import { connectMcpServer } from '../../env/mcp.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const PRELOAD = join(ROOT, 'src/preload/redirect.cjs');
const FILES = ['examples/mcp/claude_desktop_config.json', 'examples/mcp/cursor-mcp.json'];

interface ServerConfig {
  command: string;
  args: string[];
  env: Record<string, string>;
}
const configs = FILES.map((file) => ({
  file,
  servers: (
    JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as { mcpServers: Record<string, ServerConfig> }
  ).mcpServers,
}));

const read = (path: string) => readFileSync(join(ROOT, 'node_modules', path), 'utf8');
const pkg = (name: string) =>
  JSON.parse(read(`${name}/package.json`)) as { version: string; bin: string | Record<string, string> };
const binOf = (name: string) => {
  const { bin } = pkg(name);
  return join(ROOT, 'node_modules', name, typeof bin === 'string' ? bin : Object.values(bin)[0]!);
};

// What each package (and the preload) actually reads, taken from the installed code.
const preload = readFileSync(PRELOAD, 'utf8');
const stripeSource = read('@stripe/mcp/dist/index.js');
const stripeArgs = JSON.parse(
  /ACCEPTED_ARGS = (\[[^\]]*\])/.exec(stripeSource)![1]!.replace(/'/g, '"'),
) as string[];
const stripeTools = JSON.parse(
  /ACCEPTED_TOOLS = (\[[^\]]*\])/
    .exec(stripeSource)![1]!
    .replace(/'/g, '"')
    .replace(/,\s*\]/, ']'),
) as string[];
const twilioArgsSource = read('@twilio-alpha/mcp/build/utils/args.js');
const twilioFlags = [...twilioArgsSource.matchAll(/(\w+): '(\w+)'/g)].flatMap((m) => [m[1]!, m[2]!]);
const resendCli = read('resend-mcp/dist/cli/resolve.js') + read('resend-mcp/dist/cli/constants.js');
const resendNode = read('resend-mcp/node_modules/resend/dist/index.mjs');

/** Which package a server entry runs, its flags, and the variables it may set. */
const SERVERS = {
  resend: {
    package: 'resend-mcp',
    vendor: 'resend',
    flags: [] as string[],
    reads: (v: string) =>
      resendCli.includes(`env.${v}`) || resendNode.includes(`process.env.${v}`) || preload.includes(`'${v}'`),
    url: ['RESEND_BASE_URL', `http://${PROXY_RUNTIME_FLAGS.listen.default}/resend`],
    token: 'RESEND_API_KEY',
  },
  twilio: {
    package: '@twilio-alpha/mcp',
    vendor: 'twilio',
    flags: twilioFlags,
    reads: (v: string) => v === 'NODE_OPTIONS' || preload.includes(`'${v}'`),
    url: ['KEYBRAKE_TWILIO_URL', `http://${PROXY_RUNTIME_FLAGS.listen.default}/twilio`],
    token: '--apiSecret',
  },
  stripe: {
    package: '@stripe/mcp',
    vendor: 'stripe',
    flags: stripeArgs,
    reads: (v: string) =>
      v === 'NODE_OPTIONS' || stripeSource.includes(`process.env.${v}`) || preload.includes(`'${v}'`),
    url: [
      'KEYBRAKE_STRIPE_URL',
      `http://127.0.0.1:${/stripe=(\d+)/.exec(PROXY_RUNTIME_FLAGS['vendor-port'].default.join(','))![1]}`,
    ],
    token: 'STRIPE_SECRET_KEY',
  },
} as const;

/** `--name=value` or `--name value`: the flag names a server entry passes. */
const flagNames = (args: string[]) =>
  args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!);

const scratch = mkdtempSync(join(tmpdir(), 'keybrake-mcp-clients-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(configs)('$file', ({ servers }) => {
  it('configures resend-mcp, @twilio-alpha/mcp and @stripe/mcp, and nothing else', () => {
    expect(Object.keys(servers).sort()).toEqual(['resend', 'stripe', 'twilio']);
  });

  describe.each(Object.entries(SERVERS))('%s', (name, spec) => {
    const server = () => servers[name]!;

    it('runs the version this repository tests, through npx', () => {
      expect(server().command).toBe('npx');
      expect(server().args.slice(0, 2)).toEqual(['-y', `${spec.package}@${pkg(spec.package).version}`]);
    });

    it('passes only flags the package accepts', () => {
      for (const flag of flagNames(server().args.slice(2))) expect(spec.flags).toContain(flag);
      if (name === 'stripe') {
        const tools = server()
          .args.find((a) => a.startsWith('--tools='))!
          .slice('--tools='.length)
          .split(',');
        for (const tool of tools) expect(['all', ...stripeTools]).toContain(tool);
      }
    });

    it('sets only variables the package or the Keybrake preload reads', () => {
      for (const variable of Object.keys(server().env)) expect(spec.reads(variable), variable).toBe(true);
    });

    it("points at Keybrake's default listener and hands over a vault token, never a vendor key", () => {
      const [variable, url] = spec.url;
      expect(server().env[variable]).toBe(url);
      const token = spec.token.startsWith('--')
        ? server().args[server().args.indexOf(spec.token) + 1]
        : server().env[spec.token];
      expect(token).toMatch(new RegExp(`^kb_${spec.vendor}_`));
      if (server().env['NODE_OPTIONS'] !== undefined)
        expect(server().env['NODE_OPTIONS']).toMatch(/^--require \S+\/src\/preload\/redirect\.cjs$/);
    });

    it('starts with exactly this configuration and lists its tools', async () => {
      const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: scratch };
      for (const [k, v] of Object.entries(server().env))
        env[k] = k === 'NODE_OPTIONS' ? v.replace(/\S+\/src\/preload\/redirect\.cjs/, PRELOAD) : v;
      const mcp = await connectMcpServer({
        args: [binOf(spec.package), ...server().args.slice(2)],
        env,
        cwd: scratch,
      });
      try {
        const { tools } = await mcp.client.listTools();
        expect(tools.length).toBeGreaterThan(0);
        if (server().env['NODE_OPTIONS'] !== undefined)
          expect(mcp.stderr()).toContain(`keybrake preload: redirecting ${spec.vendor} → ${spec.url[1]}`);
      } finally {
        await mcp.close();
      }
    });
  });
});

describe('the two files', () => {
  it('configure the same servers (Claude Desktop and Cursor read the same mcpServers shape)', () => {
    expect(configs[1]!.servers).toEqual(configs[0]!.servers);
  });
});
