import { UsageError } from './args.ts';

/**
 * `run exec --user uid:gid`: the user the command runs as. `run exec` keeps the credential that
 * mints runs out of the command's environment, but a command running as the same user can still read
 * whatever the runner reads (the token file its arguments name, the runner's environment in /proc).
 * Only another user, and a credential file that user cannot read, keep an untrusted command (an MCP
 * server an agent drives) from minting runs of its own.
 */
export interface RunUser {
  readonly uid: number;
  readonly gid: number;
}

const USER = /^(\d{1,10}):(\d{1,10})$/;

/** Parses `uid:gid` (numbers, neither 0); a UsageError otherwise. */
export function parseRunUser(text: string): RunUser {
  const m = USER.exec(text);
  const uid = m ? Number(m[1]) : Number.NaN;
  const gid = m ? Number(m[2]) : Number.NaN;
  if (!(uid > 0 && gid > 0 && uid < 2 ** 32 && gid < 2 ** 32))
    throw new UsageError(`--user ${text}: expected <uid>:<gid>, two numbers other than 0 (e.g. 65534:65534)`);
  return { uid, gid };
}

/** The owner and permission bits of a file (a subset of fs.Stats). */
export interface FileAccess {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/** Whether `user` may read a file with these owner and permission bits (supplementary groups aside: spawn drops them). */
export function readableBy(file: FileAccess, user: RunUser): boolean {
  if (file.uid === user.uid) return (file.mode & 0o400) !== 0;
  if (file.gid === user.gid) return (file.mode & 0o040) !== 0;
  return (file.mode & 0o004) !== 0;
}
