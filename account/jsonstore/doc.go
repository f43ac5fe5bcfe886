// Package jsonstore keeps accounts ([Store], an [account.MutableStore]),
// the per-account journal ([Journal], an [account.Journal] and
// [account.Fencer]), check leases ([Locker], an [account.Locker]) and the
// check history ([History], an [account.History], in its own file beside
// the accounts file, such as history.json) in JSON files, for single-host installations that want a file an
// administrator can read, back up and put under version control. Accounts and journal live in two
// files, so that journal writes during checks never rewrite the
// configuration. A Locker (a third file) keeps two processes on one host
// from checking one mailbox at once.
//
// # Safety
//
// Every change rewrites the whole file atomically: the new content goes to
// a temporary file in the same directory, which is fsynced, renamed over
// the old file, and the directory is fsynced so that the rename survives a
// crash. A reader therefore sees the old or the new file, never a mix.
// Files are created with mode 0600: the account file holds passwords.
//
// Each operation holds an flock(2) lock on a lock file beside the data file
// (path + ".lock"): shared to read, exclusive to read, change and write
// back. Two processes (say, the daemon and an admin tool) can therefore
// not interleave read-modify-write cycles and lose each other's changes.
// Between operations the content is cached and reloaded when the file on
// disk was replaced (another inode, size or modification time).
//
// The accounts file may be written by hand, so it is vetted when loaded:
// a key that no field reads is refused with its path (a typo such as
// accounts[3].retrieval.leave_on_sever would otherwise be ignored, see
// [account.CheckKeys]), and so are an account that does not validate
// (a secret with CR, LF or NUL, an ID "." or "..") and a missing or
// repeated ID; the accounts need not be sorted. Deleting an account
// records its host, user and time under "deleted" when the store has a
// journal (see [Options]).
//
// A file that does not decode is reported as a [*CorruptError] and left
// untouched; the store or journal fails every operation until the file is
// repaired or removed, so a damaged journal never leads to deletions on a
// server.
//
// The journal file is at format version 3: final marks and notices in
// fields of their own ("final", "notices"), and each account's deletion
// guard state ("guard": its window of recently examined messages and when
// the guard tripped or was released, an [account.Guard]). Older files are
// read forward one version at a time and rewritten at version 3 at their
// next write: a version 2 file has no guard state (the guard's empty
// memory); a version 1 file, whose recipients carried final marks and
// notices as markers ("" and "!oversize-notice", "!foreign-notice"), has
// them converted.
//
// # Scale
//
// The journal file is rewritten and fsynced on every write; this suits a
// few dozen accounts with modest mailboxes. Larger installations, and
// several instances sharing accounts, use package account/sqlstore.
//
// Locking needs a Unix system (flock); elsewhere [Open] fails.
package jsonstore
