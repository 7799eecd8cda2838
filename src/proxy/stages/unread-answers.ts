import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';
import { keyName } from './audit.ts';

/**
 * Refuses a call of a key whose clients leave its answers unread, once the process holds its bound
 * of such answers (src/proxy/held-answers.ts): each one is held whole in memory until its client
 * takes it or --client-timeout closes the connection. Right after authenticate, beside the audit
 * backlog, so the refusal's record names the key, and before anything is parsed or forwarded.
 */
export const unreadAnswers: Stage = (ctx, deps) =>
  deps.heldAnswers!.admits(keyName(ctx.key!))
    ? undefined
    : deny(
        'rate_limited',
        "This proxy holds its bound of answers its clients have not read yet, and this key's answers hold at least its share of them, so its calls are refused until its clients read their answers or their connections close (--client-timeout); read each answer before sending more calls, and retry shortly.",
      );
