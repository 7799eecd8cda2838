import { tracing } from '@opentelemetry/sdk-node';

type Sampler = tracing.Sampler;

/**
 * Samples a share of calls by a draw of Keybrake's own. The SDK's ratio sampler decides from the
 * trace id, and a call's trace id is the caller's `traceparent`: it would let the agent pick ids
 * that are never sampled.
 */
function randomRatioSampler(ratio: number, random: () => number): Sampler {
  return {
    shouldSample: () => ({
      decision:
        random() < ratio ? tracing.SamplingDecision.RECORD_AND_SAMPLED : tracing.SamplingDecision.NOT_RECORD,
    }),
    toString: () => `KeybrakeRandomRatio{${ratio}}`,
  };
}

/** OTEL_TRACES_SAMPLER_ARG as the SDK reads it: a ratio in [0, 1], else 1 (every call). */
function ratioOf(arg: string | undefined): number {
  const ratio = arg === undefined || arg.trim() === '' ? Number.NaN : Number(arg);
  return ratio >= 0 && ratio <= 1 ? ratio : 1;
}

/** The sampler OTEL_TRACES_SAMPLER names, as Keybrake applies it to a call with no parent of its own. */
function rootSampler(env: NodeJS.ProcessEnv, random: () => number): Sampler {
  switch (env.OTEL_TRACES_SAMPLER) {
    case 'always_off':
    case 'parentbased_always_off':
      return new tracing.AlwaysOffSampler();
    case 'traceidratio':
    case 'parentbased_traceidratio':
      return randomRatioSampler(ratioOf(env.OTEL_TRACES_SAMPLER_ARG), random);
    default:
      // Unset, `always_on`, `parentbased_always_on`, and a value the SDK would also reject.
      return new tracing.AlwaysOnSampler();
  }
}

/**
 * Whether a span is sampled is Keybrake's decision (fourth round): the call span's parent is the
 * caller's `traceparent`, and under the SDK's default the caller's sampled flag decided whether the
 * call was traced at all. A remote parent's flag is ignored, whatever it says; a child span (reserve,
 * forward) follows its call span, so the `parentbased_` samplers act as their root.
 */
export function keybrakeSampler(env: NodeJS.ProcessEnv, random: () => number = Math.random): Sampler {
  const root = rootSampler(env, random);
  return new tracing.ParentBasedSampler({ root, remoteParentSampled: root, remoteParentNotSampled: root });
}
