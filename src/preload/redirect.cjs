'use strict';
/**
 * Keybrake redirect preload: `NODE_OPTIONS="--require /app/src/preload/redirect.cjs"`.
 *
 * Some clients (the @stripe/mcp server, @twilio-alpha/mcp) hard-code https://api.stripe.com and friends
 * and have no base-URL option. This file, loaded before them, rewrites their outgoing requests for those
 * hosts to Keybrake, so the vault token they hold is exchanged for the real key by the proxy. It patches
 * `https.request`, `https.get` and `globalThis.fetch`; every other host is left untouched.
 *
 * Configuration, environment only (a vendor whose variable is unset is not redirected; one set to an
 * empty value is an error, like a malformed one):
 *   KEYBRAKE_STRIPE_URL  api.stripe.com/p, files.stripe.com/p → <url>/p   e.g. http://keybrake-stripe.keybrake-system.svc:8081
 *   KEYBRAKE_TWILIO_URL  <sub>.twilio.com/p      → <url>/<sub>/p e.g. http://keybrake-proxy.keybrake-system.svc:8080/twilio
 *   KEYBRAKE_RESEND_URL  api.resend.com/p        → <url>/p       e.g. http://keybrake-proxy.keybrake-system.svc:8080/resend
 *   KEYBRAKE_RUN_ID      adds `Keybrake-Run-Id: <id>` to every redirected request that has none (DESIGN.md §5):
 *                        per-run caps and audit for a client that cannot send the header. `keybrake run exec`
 *                        sets it; with a run key it agrees with the key's run (a disagreement is run_id_invalid).
 *                        Empty or malformed stops the process, like a URL variable.
 *
 * Plain CommonJS without dependencies so that `--require` loads it in any Node process. It never logs
 * headers or bodies: they carry the token.
 */
const http = require('node:http');
const https = require('node:https');
const { syncBuiltinESMExports } = require('node:module');

/**
 * Stops the process with one line on stderr, naming the variable and never its value. A throw here
 * is Node's uncaught-exception dump (source line, caret, stack) under whatever server loaded us.
 */
function stop(message) {
  process.stderr.write(`keybrake preload: ${message}\n`);
  process.exit(1);
}

/**
 * Parses one `KEYBRAKE_*_URL`; a malformed value stops the process rather than silently not governing
 * it. So does an empty one: a Kubernetes `env` whose value came out empty (a missing Helm value, an
 * unset shell variable) meant the variable was unset, and the server sent its vault token straight to
 * the vendor, bypassing Keybrake (tenth round). Only a variable absent from the environment is unset.
 */
function base(name) {
  const raw = process.env[name];
  if (raw === undefined) return undefined;
  if (raw.trim() === '') return stop(`${name} is set but empty (unset it to leave that vendor alone)`);
  let url;
  try {
    url = new URL(raw);
  } catch {
    return stop(`${name} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return stop(`${name} must be an http or https URL`);
  }
  return {
    protocol: url.protocol,
    // http.request wants an IPv6 address without the URL's brackets.
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port,
    prefix: url.pathname.replace(/\/+$/, ''),
  };
}

const targets = {
  stripe: base('KEYBRAKE_STRIPE_URL'),
  twilio: base('KEYBRAKE_TWILIO_URL'),
  resend: base('KEYBRAKE_RESEND_URL'),
};

/**
 * KEYBRAKE_RUN_ID, checked like Keybrake checks the header (RUN_ID_PATTERN, src/snapshot/run-id.ts,
 * copied: this file imports nothing): a malformed one stops the process rather than have every call
 * refused later. So does an empty (or blank) one, for the reason base() gives: a value that came out
 * empty meant unset, and a server holding its parent key made calls under no run at all, neither
 * capped by nor audited under the run the operator meant (DESIGN.md §5), and nothing said so (tenth
 * round). Only a variable absent from the environment means no run id.
 */
function runIdFromEnv() {
  const raw = process.env.KEYBRAKE_RUN_ID;
  if (raw === undefined) return undefined;
  if (raw.trim() === '') return stop('KEYBRAKE_RUN_ID is set but empty (unset it to send no run id)');
  if (!/^(?!(?:[^/]*\/)*\.\.?(?:\/|$))[A-Za-z0-9._:@/-]{1,128}$/.test(raw)) {
    stop(
      'KEYBRAKE_RUN_ID must be 1 to 128 of A-Z a-z 0-9 . _ : @ / -, with no "." or ".." segment between slashes',
    );
  }
  return raw;
}

const RUN_ID = runIdFromEnv();

/**
 * Where a request for https://`hostname``path` should go instead, or undefined to leave it alone.
 * Only https requests are considered: the vendors' APIs are https only.
 */
function rewrite(hostname, path) {
  const host = String(hostname).toLowerCase().replace(/\.$/, '');
  // files.stripe.com takes uploads; Keybrake forwards them there itself.
  if ((host === 'api.stripe.com' || host === 'files.stripe.com') && targets.stripe)
    return at(targets.stripe, path);
  if (host === 'api.resend.com' && targets.resend) return at(targets.resend, path);
  if (host.endsWith('.twilio.com') && targets.twilio) {
    return at(targets.twilio, `/${host.slice(0, -'.twilio.com'.length)}${path}`);
  }
  return undefined;
}

function at(target, path) {
  const port = target.port || (target.protocol === 'http:' ? '80' : '443');
  return {
    protocol: target.protocol,
    hostname: target.hostname,
    port: Number(port),
    path: target.prefix + path,
  };
}

// Options that only make sense for TLS to the vendor; dropped when the hop to Keybrake is plain http.
const TLS_ONLY = [
  'ALPNProtocols',
  'ca',
  'cert',
  'checkServerIdentity',
  'ciphers',
  'clientCertEngine',
  'crl',
  'dhparam',
  'ecdhCurve',
  'honorCipherOrder',
  'key',
  'maxVersion',
  'minVersion',
  'passphrase',
  'pfx',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'rejectUnauthorized',
  'secureContext',
  'secureOptions',
  'secureProtocol',
  'servername',
  'session',
  'sessionIdContext',
  'sigalgs',
];

/**
 * The caller's Host header names the vendor; Node sets the right one for Keybrake when it is absent,
 * except for raw `[name, value, …]` headers, which Node sends as they are: those get Keybrake's.
 * With KEYBRAKE_RUN_ID, the run header is added unless the caller sent its own.
 */
function forKeybrake(headers, to) {
  let out = withoutHost(headers);
  if (Array.isArray(out)) {
    const host = to.hostname.includes(':') ? `[${to.hostname}]` : to.hostname;
    out = [...out, 'Host', `${host}:${to.port}`];
  }
  if (RUN_ID === undefined) return out;
  if (Array.isArray(out)) {
    for (let i = 0; i < out.length; i += 2) {
      if (String(out[i]).toLowerCase() === 'keybrake-run-id') return out;
    }
    return [...out, 'Keybrake-Run-Id', RUN_ID];
  }
  const named = out ?? {};
  if (Object.keys(named).some((name) => name.toLowerCase() === 'keybrake-run-id')) return named;
  return { ...named, 'Keybrake-Run-Id': RUN_ID };
}

function withoutHost(headers) {
  if (!headers) return headers;
  if (Array.isArray(headers)) {
    // Raw [name, value, name, value, …] form.
    const out = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() !== 'host') out.push(headers[i], headers[i + 1]);
    }
    return out;
  }
  const out = {};
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== 'host') out[name] = value;
  return out;
}

/** `https.request`'s three call shapes — (url, options?, cb?), (options, cb?) — as one options object and a callback. */
function normalise(args) {
  let [first, second, third] = args;
  let options = {};
  if (typeof first === 'string' || first instanceof URL) {
    const url = typeof first === 'string' ? new URL(first) : first;
    options = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: `${url.pathname}${url.search}`,
      ...(url.username || url.password
        ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` }
        : {}),
    };
    if (typeof second === 'function') {
      third = second;
      second = undefined;
    }
    if (second) options = { ...options, ...second };
    return { options, callback: third };
  }
  return { options: { ...first }, callback: second };
}

const originalHttpsRequest = https.request;
const originalHttpRequest = http.request;

function redirectedRequest(...args) {
  const { options, callback } = normalise(args);
  const to = rewrite(options.hostname || options.host || 'localhost', options.path || '/');
  // Anything else, including a non-default port on a vendor host, goes out exactly as asked.
  if (!to || (options.port && Number(options.port) !== 443)) return originalHttpsRequest.apply(https, args);

  const plain = to.protocol === 'http:';
  const next = { ...options, ...to, host: to.hostname, headers: forKeybrake(options.headers, to) };
  delete next.socketPath;
  delete next.createConnection;
  delete next._defaultAgent;
  delete next.defaultPort;
  if (plain) {
    for (const k of TLS_ONLY) delete next[k];
    // An https.Agent cannot carry a plain-http request (ERR_INVALID_PROTOCOL): use the default http agent.
    if (next.agent && next.agent.protocol !== 'http:') delete next.agent;
  }
  const req = (plain ? originalHttpRequest : originalHttpsRequest)(next, callback);
  if (plain) {
    // stripe-node 17's NodeHttpClient writes the body only on the socket's 'secureConnect' when it asked
    // for https, which a plain socket never emits: the request would hang. Emit it on 'connect'.
    req.once('socket', (socket) => {
      if (socket.connecting) socket.once('connect', () => socket.emit('secureConnect'));
    });
  }
  return req;
}

https.request = redirectedRequest;
// https.get calls the module-internal request, not the exported one, so it needs its own patch.
https.get = function redirectedGet(...args) {
  const req = redirectedRequest(...args);
  req.end();
  return req;
};

if (typeof globalThis.fetch === 'function') {
  const originalFetch = globalThis.fetch;
  globalThis.fetch = function redirectedFetch(input, init) {
    const isRequest = typeof Request === 'function' && input instanceof Request;
    let url;
    try {
      url = new URL(isRequest ? input.url : String(input));
    } catch {
      return originalFetch(input, init);
    }
    const to =
      url.protocol === 'https:' && !url.port
        ? rewrite(url.hostname, `${url.pathname}${url.search}`)
        : undefined;
    if (!to) return originalFetch(input, init);

    const host = to.hostname.includes(':') ? `[${to.hostname}]` : to.hostname;
    const target = `${to.protocol}//${host}:${to.port}${to.path}`;
    // Request(target, request) copies method, headers, body and signal; init, if any, still applies on top.
    const req = new Request(target, isRequest ? new Request(input, init) : new Request(url, init));
    req.headers.delete('host');
    if (RUN_ID !== undefined && !req.headers.has('keybrake-run-id'))
      req.headers.set('Keybrake-Run-Id', RUN_ID);
    return originalFetch(req);
  };
}

// ES modules that `import { request } from 'node:https'` see the patched functions too.
syncBuiltinESMExports();

const redirected = Object.entries(targets)
  .filter(([, t]) => t)
  .map(
    ([vendor, t]) =>
      `${vendor} → ${t.protocol}//${t.hostname.includes(':') ? `[${t.hostname}]` : t.hostname}${t.port ? `:${t.port}` : ''}${t.prefix}`,
  );
process.stderr.write(
  `keybrake preload: ${redirected.length ? `redirecting ${redirected.join(', ')}` : 'no KEYBRAKE_*_URL set, nothing redirected'}${RUN_ID !== undefined && redirected.length ? `, run ${RUN_ID}` : ''}\n`,
);
