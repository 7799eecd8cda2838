/**
 * A run id (DESIGN.md §5, ADR 0010): 1 to 128 of A-Z a-z 0-9 . _ : @ / -, with no segment between
 * slashes that is `.` or `..`. A URL path resolves those away (the runs API stops a run at
 * `DELETE /v1/runs/<ns>/<name>/<runId>`), so `run stop x/y/../z` stopped run x/z and said it had
 * stopped x/y/../z, whose key went on spending (found by an adversarial probe). One pattern for the
 * header, the tokens, the counters and the distribution protocol.
 */
export const RUN_ID_PATTERN = /^(?!(?:[^/]*\/)*\.\.?(?:\/|$))[A-Za-z0-9._:@/-]{1,128}$/;
