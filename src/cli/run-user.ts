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

/** The owner and permission bits of a file (a subset of fs.Stats; its group is not asked: see below). */
export interface FileAccess {
  readonly uid: number;
  readonly mode: number;
}

/**
 * Why `user` could get at a credential file with these owner and permission bits; undefined when
 * only its owner, another user, can read it. Fails closed rather than modelling who reads what:
 * spawn drops the runner's supplementary groups, but `sg`/`newgrp` give a member listed in
 * /etc/group its groups back without a password, so any group read bit is refused, whichever the
 * group. POSIX ACLs are covered on Linux: on a file with an ACL the group bits are the ACL mask,
 * which bounds every named user and group entry. ACL models that bypass the mode bits (NFSv4 ACLs)
 * are not visible here.
 */
export function credentialExposure(file: FileAccess, user: RunUser): string | undefined {
  // Its owner may chmod it, whatever its mode says now.
  if (file.uid === user.uid) return 'that user owns it';
  if ((file.mode & 0o040) !== 0) return 'its group may read it';
  if ((file.mode & 0o004) !== 0) return 'every user may read it';
  return undefined;
}
