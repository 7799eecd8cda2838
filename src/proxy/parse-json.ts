/** An upstream body as JSON; undefined when it is not, so callers fall back to the safe side. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
