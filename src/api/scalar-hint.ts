import { YAML_FALSE_WORDS, YAML_TRUE_WORDS } from './yaml-booleans.ts';

/**
 * What to add to a "must be a string / a whole number / true or false" error when the value is of
 * another type because of how YAML reads it (validate's messages, file and Kubernetes sources alike).
 * Manifests are read as kubectl reads them (YAML 1.1 scalars: README `serve`): an unquoted `NO` is
 * false, `+14155550100` a number, and a quoted `"120"` stays a string. A bare "must be a string" left
 * the author looking at a value that is plainly a string on the page.
 *
 * `echo`: whether the value may be shown. False for a Secret's data and stringData, which are
 * credentials: their hint says what happened without the value.
 */
export function typeHint(expected: string, value: unknown, echo: boolean): string {
  if (expected === 'string') return stringHint(value, echo);
  if (typeof value !== 'string') return '';
  if (expected === 'number' || expected === 'int')
    return echo && WHOLE_NUMBER.test(value)
      ? `: "${value}" in quotes is a string; write ${value} without quotes`
      : ': a value in quotes is a string; write the number without quotes';
  if (expected === 'boolean')
    return echo && BOOLEAN_WORDS.has(value)
      ? `: "${value}" in quotes is a string; write true or false without quotes`
      : ': a value in quotes is a string; write true or false without quotes';
  return '';
}

function stringHint(value: unknown, echo: boolean): string {
  if (typeof value === 'boolean')
    return value
      ? ': an unquoted yes, y, on or true (in any case) reads as true, as kubectl reads it; quote the value'
      : ': an unquoted no, n, off or false (in any case: the country code NO too) reads as false, as kubectl reads it; quote the value, e.g. "NO"';
  if (typeof value === 'number')
    return echo
      ? `: unquoted, it reads as the number ${value}, as kubectl reads it (a leading + or 0 is lost); quote the value as written`
      : ': unquoted digits read as a number, as kubectl reads them; quote the value';
  if (value === null) return ': an unquoted ~, null or nothing reads as null; quote the value';
  return '';
}

const WHOLE_NUMBER = /^[+-]?[0-9]{1,20}$/;
/** The words go-yaml v2 reads as booleans unquoted, as a quoted value may hold them. */
const BOOLEAN_WORDS: ReadonlySet<string> = new Set([...YAML_TRUE_WORDS, ...YAML_FALSE_WORDS]);
