import type { SpawnOptions } from 'node:child_process';
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

/**
 * How `run exec --user` starts the command, beyond the user (thirteenth round):
 * - in a session of its own (`detached`: setsid), so the runner's controlling terminal is not the
 *   command's. A command in the runner's session could push bytes into that terminal's input with
 *   TIOCSTI (on its stdin, or on /dev/tty with stdio redirected), which the operator's root shell read
 *   and ran once `run exec` had exited: `cat parent.token > /tmp/x`. In another session TIOCSTI is
 *   refused (EPERM, without CAP_SYS_ADMIN) and /dev/tty does not open (ENXIO). The runner forwards
 *   the terminal's signals itself, to the command's process group (see run.ts).
 * - with the runner's inheritable descriptors above 2 (`inherited`) replaced by `placeholder`
 *   (/dev/null, opened close-on-exec by the runner): a descriptor the runner's parent left open on
 *   the token file gave the command the parent token its user could not open by path. Node cannot
 *   close a descriptor in the child only, but spawn's stdio array dup2()s a descriptor of ours onto
 *   each of those numbers in the child, so the open files they held never reach it.
 */
export function commandSpawnOptions(
  user: RunUser,
  inherited: readonly number[],
  placeholder: number,
): SpawnOptions {
  const stdio: SpawnOptions['stdio'] = ['inherit', 'inherit', 'inherit'];
  const replaced = new Set(inherited);
  const last = Math.max(2, ...inherited);
  // 'ignore' above 2 leaves a descriptor as the child has it: Node's own close at exec.
  for (let fd = 3; fd <= last; fd++) stdio.push(replaced.has(fd) ? placeholder : 'ignore');
  return { uid: user.uid, gid: user.gid, detached: true, stdio };
}
