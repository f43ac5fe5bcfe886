// Command multidropd is a daemon that collects mail from remote POP3
// "multidrop" mailboxes and delivers it to the users of their domains,
// built on the multidrop library: the accounts in an SQLite, JSON or
// PostgreSQL store, the users in a text file, delivery to Maildirs, LMTP or
// an SMTP smarthost, and the Remote POP Accounts admin page.
//
// Usage:
//
//	multidropd [-config file] [-once | -check ID | -version]
//	multidropd accounts [-config file] COMMAND [arguments]
//	multidropd hash-password < password
//
// "multidropd accounts" manages the accounts of the configured store (list,
// show, add, edit, enable, disable, delete, export, import, import
// -fetchmailrc), tests one (connection, TLS certificate, login, STAT:
// nothing retrieved or deleted) and previews what a check would do with
// its messages, through package probe. Passwords are read at a prompt or
// from standard input, never from the command line. "hash-password" prints
// a bcrypt hash for admin.password.
//
// Without -once or -check, multidropd checks each enabled account on its
// interval until SIGTERM or SIGINT, which let the running checks finish the
// message in hand and commit (a second signal exits at once); SIGHUP
// reloads the configuration and the user directory. With
// pipeline.schedule "shared" (the default on PostgreSQL) several instances
// share the accounts through the store. -once checks every enabled account once and -check one
// account; both exit with status 0 when every check succeeded, 1 when one
// failed, 2 on a usage or configuration error (also the status of a
// daemon that cannot start), 3 when a message was kept after a temporary
// delivery failure and 4 when an account was busy (its lease held
// elsewhere); they end with a one-line summary.
//
// The server's LOGIN-DELAY (RFC 2449) holds across runs and restarts: the
// earliest next login of each account is kept with its check history
// (SQLite, PostgreSQL; in memory with the JSON store), and no check the
// daemon starts (-once, -check, the schedule, Check Now) connects before
// it. Such an account is counted as deferred, not failed (status 0);
// an [IN-USE] refusal is a failure retried with the usual backoff. On a terminal they show progress and a
// summary table, with log lines scrolling above the progress line;
// otherwise they log structured lines to standard error. Signals are
// logged when they arrive.
//
// multidropd.service is a sandboxed systemd unit and Dockerfile a
// container image; CONFIG.md says how to use them.
//
// multidropd runs with GOMAXPROCS of at least 4 unless the environment sets
// it or a container's CPU quota lowered it: deliveries hold the runtime's
// Ps through fsyncs, and on a machine with fewer cores the download would
// wait for them. It runs with GOGC=50 unless the environment sets GOGC: a
// lower peak RSS (about 3.5 MiB less than the runtime's default 100 in a
// check of 2,000 messages) for some more collection work (0.25 s of CPU
// there).
//
// The configuration file is JSON; CONFIG.md documents every key and
// multidropd.example.json is a complete example.
//
// The program's parts are functions tests call directly: LoadConfig reads
// and checks a configuration, Open wires a Daemon from it, Daemon.Serve
// runs it, Daemon.Once checks once, Daemon.Reload is SIGHUP, and Main is
// the whole command with its exit status.
package main
