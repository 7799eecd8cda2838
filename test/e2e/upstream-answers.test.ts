// What Keybrake does with a vendor's answer before the agent sees it (ADR 0007 §1 and §8), against
// the real `keybrake serve`: an answer over --max-response-body is 502 upstream_response_too_large,
// read no further than the limit (the upstream's 1 GiB stream is cut off after a few MiB and the
// proxy's memory stays flat); an answer carrying the real key is 502 credential_in_response with
// nothing of the key in it. Both calls did reach the vendor, so they stay counted and audited.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { metricValue, type RawResponse, rawHttp } from './fixtures/http.ts';
import { useScriptedServe } from './fixtures/scripted-serve.ts';
import { ENDLESS_BYTES } from './fixtures/scripted-upstream.ts';

const UPSTREAM_KEY = `sk_test_answers${randomBytes(12).toString('hex')}`;
const OPEN = newToken('stripe');
const CAPPED = newToken('stripe');
const CUSTOMERS = newToken('stripe');
const MAX_RESPONSE_BODY = 1024 * 1024;
const CLEAN_ENV = { KEYBRAKE_MAX_RESPONSE_BODY: '' };

const { upstream, kb } = useScriptedServe(
  [
    { name: 'open', token: OPEN, upstreamKey: UPSTREAM_KEY },
    { name: 'capped', token: CAPPED, upstreamKey: UPSTREAM_KEY, limits: { perDayUsd: '10' } },
    { name: 'customers', token: CUSTOMERS, upstreamKey: UPSTREAM_KEY, allow: { customers: ['cus_ok'] } },
  ],
  { args: ['--max-response-body', String(MAX_RESPONSE_BODY)], env: CLEAN_ENV },
);

const get = (path: string, token = OPEN) =>
  rawHttp(kb().urls.stripe!, { method: 'GET', target: path, headers: { Authorization: `Bearer ${token}` } });

const charge = (body: string) =>
  rawHttp(kb().urls.stripe!, {
    method: 'POST',
    target: '/v1/charges',
    headers: { Authorization: `Bearer ${CAPPED}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
  });

/** The proxy's peak resident memory so far, in bytes (Linux). */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}

function expectDenied(res: RawResponse, status: number, reason: string) {
  expect(res.status).toBe(status);
  expect(res.headers['keybrake-decision']).toBe(`deny; reason=${reason}`);
  const body = JSON.parse(res.body) as { error: { code: string; message: string; type: string } };
  expect(body.error).toMatchObject({ code: reason, type: expect.any(String) });
  return body.error.message;
}

describe('an answer over --max-response-body', () => {
  it('is 502 upstream_response_too_large, and not read past the limit', async () => {
    const rssBefore = await peakRss(kb().child.pid!);
    const from = kb().audit.length;
    const res = await get('/v1/customers/cus_endless');

    const message = expectDenied(res, 502, 'upstream_response_too_large');
    expect(message).toContain(`${MAX_RESPONSE_BODY} bytes`);
    expect(message).toContain('--max-response-body');
    // The upstream meant to send a gigabyte; it got a few socket buffers' worth out before the cut.
    const written = await upstream().streamed();
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(written).toBeLessThan(ENDLESS_BYTES);
    expect((await peakRss(kb().child.pid!)) - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === '/v1/customers/cus_endless'),
    ).toMatchObject({
      decision: 'deny',
      reason: 'upstream_response_too_large',
      upstreamStatus: 200,
      upstreamRequestId: 'req_endless',
    });
  });

  it('is refused on its declared length alone', async () => {
    const res = await get('/v1/customers/cus_declared');
    expectDenied(res, 502, 'upstream_response_too_large');
  });

  it('leaves smaller answers alone', async () => {
    const res = await get('/v1/customers/cus_small');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ id: 'cus_small' });
  });
});

describe('an answer carrying the real key', () => {
  it('is 502 credential_in_response, with nothing of the key in it', async () => {
    const from = kb().audit.length;
    const res = await get('/v1/customers/cus_leak');
    const message = expectDenied(res, 502, 'credential_in_response');
    expect(message).toMatch(/withheld/);
    expect(res.raw).not.toContain(UPSTREAM_KEY);
    expect(res.raw).not.toContain(UPSTREAM_KEY.slice(8));
    expect(upstream().requests).toContain('GET /v1/customers/cus_leak');
    expect(
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === '/v1/customers/cus_leak'),
    ).toMatchObject({ decision: 'deny', reason: 'credential_in_response', upstreamStatus: 200 });
  });

  it('keeps a money-moving call counted: the vendor did act on it', async () => {
    const from = kb().audit.length;
    const leaked = await charge('amount=600&currency=usd&description=leak');
    expectDenied(leaked, 502, 'credential_in_response');
    expect(leaked.raw).not.toContain(UPSTREAM_KEY);
    expect(
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.reason === 'credential_in_response'),
    ).toMatchObject({ path: '/v1/charges', costUsd: '6.00', vaultKey: 'agents/capped' });
    // $6 of the $10 day is spent: another $6 is over the cap, and never reaches the vendor.
    const mark = upstream().requests.length;
    expectDenied(await charge('amount=600&currency=usd'), 403, 'daily_cap_exceeded');
    expect(upstream().requests.slice(mark)).toEqual([]);
  });

  it('counts both kinds of withheld answer, and never logs the key', async () => {
    const metrics = await (await fetch(`${kb().urls.admin}/metrics`)).text();
    const count = (reason: string) =>
      metricValue(metrics, 'keybrake_calls_total', { vendor: 'stripe', decision: 'deny', reason });
    expect(count('upstream_response_too_large')).toBe(2);
    expect(count('credential_in_response')).toBe(2);
    expect(kb().output()).not.toContain(UPSTREAM_KEY);
  });
});

describe('a request id carrying the real key', () => {
  // Found by a tester: the answer was withheld, but the audit record on stdout took the vendor's
  // request-id header as it came, key and all.
  it.each([
    ['a withheld answer', '/v1/customers/cus_leakid', 'credential_in_response'],
    ['an answer over --max-response-body', '/v1/customers/cus_declaredleakid', 'upstream_response_too_large'],
  ])('never reaches the audit record, from %s', async (_what, path, reason) => {
    const from = kb().audit.length;
    const res = await get(path);
    expectDenied(res, 502, reason);
    expect(res.raw).not.toContain(UPSTREAM_KEY);
    const record = await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === path);
    expect(record).toMatchObject({ decision: 'deny', reason, upstreamStatus: 200, upstreamRequestId: null });
    expect(JSON.stringify(record)).not.toContain(UPSTREAM_KEY.slice(8));
    expect(kb().output()).not.toContain(UPSTREAM_KEY.slice(8));
  });
});

describe("the answer to Keybrake's own price lookup carrying the real key", () => {
  // Found by a tester: the payment intent read to price a confirm named the key as its customer, and
  // the customer_not_allowed denial quoted it back to the agent.
  it('stops the call with 502 credential_in_response: nothing forwarded, audited', async () => {
    const from = kb().audit.length;
    const mark = upstream().requests.length;
    const res = await rawHttp(kb().urls.stripe!, {
      method: 'POST',
      target: '/v1/payment_intents/pi_leak/confirm',
      headers: { Authorization: `Bearer ${CUSTOMERS}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    const message = expectDenied(res, 502, 'credential_in_response');
    expect(message).toContain('price lookup');
    expect(res.raw).not.toContain(UPSTREAM_KEY.slice(8));
    // Keybrake's read reached the vendor; the confirm did not.
    expect(upstream().requests.slice(mark)).toEqual(['GET /v1/payment_intents/pi_leak']);
    const record = await kb().waitForAudit(
      (r) => kb().audit.indexOf(r) >= from && r.path === '/v1/payment_intents/pi_leak/confirm',
    );
    expect(record).toMatchObject({
      decision: 'deny',
      reason: 'credential_in_response',
      operation: 'stripe.payment_intents.confirm',
      costUsd: '0.00',
    });
    expect(kb().output()).not.toContain(UPSTREAM_KEY.slice(8));
  });
});

describe('the headers of an answer', () => {
  // Found on the wire (sixth round): the headers the vendor's Connection header named reached the
  // agent, though they are hop-by-hop (RFC 9110 §7.6.1); and the vendor's cookies did, tied to the key.
  // Seventh round: Set-Cookie2 (RFC 2965) and Authentication-Info reached the agent.
  it('leave out those its Connection names, its cookies and its Authentication-Info', async () => {
    const res = await get('/v1/customers/cus_hop');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ id: 'cus_hop' });
    expect(res.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(res.headers).not.toHaveProperty('x-hop-secret');
    expect(res.headers).not.toHaveProperty('set-cookie');
    expect(res.headers).not.toHaveProperty('set-cookie2');
    expect(res.headers).not.toHaveProperty('authentication-info');
    expect(res.raw).not.toMatch(/x-hop-secret|machine_identifier|tied-to-the-key/i);
  });
});

describe('ranges', () => {
  // Sixth round: a part of an answer is a slice withholding and the credential scan would each see
  // alone, so a secret split across two ranges would get through.
  it('are not forwarded: the answer comes whole', async () => {
    const res = await rawHttp(kb().urls.stripe!, {
      method: 'GET',
      target: '/v1/customers/cus_ranged',
      headers: { Authorization: `Bearer ${OPEN}`, Range: 'bytes=0-9', 'If-Range': '"v1"' },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ id: 'cus_ranged', description: 'whole' });
  });

  it('a 206 Partial Content nobody asked for is withheld: 502 credential_in_response, audited', async () => {
    const from = kb().audit.length;
    const res = await get('/v1/customers/cus_partial');
    expect(expectDenied(res, 502, 'credential_in_response')).toContain('206 Partial Content');
    expect(res.body).not.toContain('{"id":"cus');
    expect(
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === '/v1/customers/cus_partial'),
    ).toMatchObject({ decision: 'deny', reason: 'credential_in_response', upstreamStatus: 206 });
  });
});
