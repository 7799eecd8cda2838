/**
 * The plain scalars go-yaml v2 reads as booleans (YAML 1.1), which kubectl applies as JSON true and
 * false. One list for the reader that resolves them (sources/file/kubectl-scalar.ts) and for
 * validation's hint about a quoted one (scalar-hint.ts), so the two cannot drift apart.
 */
export const YAML_TRUE_WORDS = [
  'y',
  'Y',
  'yes',
  'Yes',
  'YES',
  'true',
  'True',
  'TRUE',
  'on',
  'On',
  'ON',
] as const;
export const YAML_FALSE_WORDS = [
  'n',
  'N',
  'no',
  'No',
  'NO',
  'false',
  'False',
  'FALSE',
  'off',
  'Off',
  'OFF',
] as const;
