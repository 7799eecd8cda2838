import { type Denial, deny } from '../../decision/reasons.ts';
import { printableName } from '../names.ts';

/**
 * @twilio-alpha/mcp sends every POST as `Content-Type: application/json` with its tool's arguments
 * as the body (`{}` when there are none), also to an operation whose definition declares no body (an
 * A2P brand's SMS OTP, a sink test, a Flex plugin archived); Twilio's own SDKs send nothing. Such a
 * body is taken only when it says nothing the path does not: a JSON object (or a form) whose every
 * key is one of the operation's path parameters, spelt as declared, holding the path's own value. The
 * parse stage then forwards the call without it, so Twilio acts on exactly what Keybrake judged (sixth
 * round: those tools were refused body_invalid even when a policy named them exactly; a form body was
 * forwarded whole, its parameters unjudged).
 */
export function pathEchoDenial(value: unknown, path: ReadonlyMap<string, string>): Denial | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return deny(
      'body_invalid',
      'This Twilio operation takes no body: send none, or a JSON object repeating its path.',
    );
  }
  for (const [key, given] of Object.entries(value)) {
    const expected = path.get(key);
    if (expected === undefined) {
      return deny(
        'body_invalid',
        `This Twilio operation takes no body, and ${printableName(key)} is none of its path parameters: send no body.`,
      );
    }
    if (given !== expected) {
      return deny(
        'body_invalid',
        `This Twilio operation takes no body, and ${printableName(key)} differs from the path's value: send no body.`,
      );
    }
  }
  return undefined;
}
