/** An error as one log field: name and message, never a stack full of request data. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
