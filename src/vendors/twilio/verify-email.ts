import { type Denial, deny } from '../../decision/reasons.ts';
import { scanJson } from '../json.ts';
import { isDisplayName, normaliseBareAddress } from '../mailbox.ts';
import { foldName, printableName } from '../names.ts';
import type { Params } from '../types.ts';
import { single } from './fields.ts';

/**
 * The sender a Verify verification chooses per call (price stage; thirteenth round, probe fixother,
 * finding 1). `ChannelConfiguration` is a JSON object whose `from` and `from_name` override what the
 * verification email leaves from (Twilio's definition: "The fields 'from' and 'from_name' are
 * optional but if included the 'from' field must have a valid email address"). Nothing read it, so a
 * key held to one sender sent the merchant's verification email from any address the agent picked.
 * Its `from` is now a sender, read as Resend reads one (one bare address, `normaliseBareAddress`).
 *
 * Read whatever the `Channel`: the definition calls it the email channel's, and reading it on every
 * channel costs a legitimate call nothing, while a `Channel` Keybrake reads otherwise than Twilio
 * would then leave no gap. Without `from`, the service's own sender is used, as before.
 *
 * Refused (`body_invalid`): text that is not one JSON object, a key given twice (exactly or ignoring
 * case: `JSON.parse` keeps the last, Twilio's reader may keep the first), a key that is `from` in
 * another spelling (`From`, `FROM`, `fro_m`: how Twilio reads key names is not documented, so the
 * reading that names no sender is not trusted), and a `from` that is not one address.
 *
 * Fourteenth round (probe fixtwre14 finding 3): its `from_name` is the display name the email shows
 * before that address, and a reader shows it first: `CEO <ceo@evil.test>` or an RFC 2047 encoded word
 * decoding to it went out before the allowed `otp@ok.example`. It is judged as a Resend `from_name`
 * is (mailbox.ts `isDisplayName`, one reader for every vendor), and refused (`body_invalid`) when it
 * is no such name, not a string (`null` names none), or spelt otherwise (`fromName`, `From_Name`).
 *
 * Fourteenth round (probe fixes14b): a form name that reads as a field of the object
 * (`ChannelConfiguration.from`, `ChannelConfiguration[from]`, `ChannelConfiguration.from_name`) was
 * forwarded unjudged: the definition declares none, so the parse stage takes them as names it does
 * not know. Whether Twilio reads them is not known; it reads dotted names of other objects
 * (`Email.From`, `Configuration.Url`), and how it would merge one with the JSON object (which wins)
 * is not documented. Every Twilio SDK sends the object as one JSON text, so such a name is refused
 * (`body_invalid`) rather than judged by a guess of that merge: any name but `ChannelConfiguration`
 * itself whose letters start as it does (`channel_configuration.from`, `ChannelConfiguration:from`).
 */
export function verificationSender(params: Params): string | undefined | Denial {
  const subKey = channelConfigurationSubKey(params);
  if (subKey) return subKey;
  const text = single(params, 'ChannelConfiguration');
  if (text === undefined) return undefined;
  // The text is bounded by the body's size: only repeated keys are of interest here.
  const repeated = scanJson(text, {
    maxDepth: Number.POSITIVE_INFINITY,
    maxParams: Number.POSITIVE_INFINITY,
  });
  if (repeated) return repeated;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    return notAnObject();
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return notAnObject();
  for (const name of Object.keys(config)) {
    if (name !== FROM && foldKey(name) === FROM) {
      return deny(
        'body_invalid',
        'ChannelConfiguration names its sender as "from", spelt exactly: another spelling may be read as the sender too.',
      );
    }
    if (name !== FROM_NAME && foldKey(name) === foldKey(FROM_NAME)) {
      return deny(
        'body_invalid',
        'ChannelConfiguration names its sender\'s display name as "from_name", spelt exactly: another spelling may be read as the name too.',
      );
    }
  }
  const fromName = (config as Record<string, unknown>)[FROM_NAME];
  if (
    Object.hasOwn(config, FROM_NAME) &&
    fromName !== null &&
    (typeof fromName !== 'string' || !isDisplayName(fromName))
  ) {
    return deny(
      'body_invalid',
      'ChannelConfiguration "from_name" must be a display name as a quoted one in a from: no line break, control character, `\\`, `<`, `>`, `@`, `,`, a `"` but around it, an encoded word `=?…?=`, or a lookalike of one.',
    );
  }
  if (!Object.hasOwn(config, FROM)) return undefined;
  const from = (config as Record<string, unknown>)[FROM];
  const address = typeof from === 'string' ? normaliseBareAddress(from) : undefined;
  if (address === undefined) {
    return deny(
      'body_invalid',
      'ChannelConfiguration "from" must be one email address alone (no display name, list or separator), without blank or invisible characters around it.',
    );
  }
  return address;
}

const CHANNEL_CONFIGURATION = 'ChannelConfiguration';
const CHANNEL_CONFIGURATION_FOLDED = foldKey(CHANNEL_CONFIGURATION);

/** A parameter other than `ChannelConfiguration` that a lenient reader may take for it or its fields. */
function channelConfigurationSubKey(params: Params): Denial | undefined {
  for (const name of Object.keys(params)) {
    if (name !== CHANNEL_CONFIGURATION && foldKey(foldName(name)).startsWith(CHANNEL_CONFIGURATION_FOLDED)) {
      return deny(
        'body_invalid',
        `ChannelConfiguration must be sent as one JSON object under that exact name, not as ${printableName(name)}: Twilio may read a field of it given apart.`,
      );
    }
  }
  return undefined;
}

const FROM = 'from';
const FROM_NAME = 'from_name';

/** A key as a lenient reader might match it: lower case, letters only. */
function foldKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z]/g, '');
}

function notAnObject(): Denial {
  return deny('body_invalid', 'ChannelConfiguration must be one JSON object.');
}
