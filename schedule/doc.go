// Package schedule checks the accounts of a store on their intervals, with
// a [Checker] — a [multidrop.Pipeline] — doing each check.
//
// A [Schedule] runs in one of two ways:
//
//   - [Schedule.Run] keeps the schedule in memory: one instance checks every
//     enabled account of the store on its interval (Account.Retrieval.Interval,
//     else Options.Interval), at most Options.Concurrency at once, re-reading
//     the account list every [RefreshInterval].
//   - [Schedule.RunShared] keeps it in the store, for several instances that
//     share one (account/sqlstore on PostgreSQL, or SQLite for processes on
//     one host), each with its own Options.Owner: each instance polls the
//     store's [account.Scheduler] for due accounts and claims them with a
//     lease, so each enabled account is checked about once per interval by
//     exactly one instance.
//
// [Schedule.Wake] is "Check Now" for a running schedule: at once under Run
// (and once more right after a check of the account that is running), and
// [Schedule.RequestCheck] under RunShared, which makes the account due in the
// store for whichever instance polls next.
//
// # Rules
//
// After a successful check an account waits its interval, give or take
// Options.Jitter (±10% by default) so that accounts added together do not
// stay in step; after n failed checks in a row it waits Options.Backoff(n)
// ([DefaultBackoff]: from one minute, doubling, up to one hour). A server's
// LOGIN-DELAY (RFC 2449) is honoured: the next check comes no sooner. An
// authentication failure ([AUTH], RFC 3206) pauses the account, so that a
// wrong password does not lock the mailbox out at the provider, until its
// settings change in the store or it is woken; the pause is logged and
// sent to Options.Observer as [multidrop.EventAccountIdle].
//
// # Stopping
//
// When the context of Run or RunShared is done, the running checks are
// asked for a graceful stop ([multidrop.CheckOptions].Stop): each finishes
// the messages in hand, leaves the rest on the server and commits with
// QUIT. Run and RunShared wait for them and return nil. Under RunShared an
// account whose check was cut short is left due at once for the other
// instances.
//
// # Several instances
//
// Under RunShared a check runs under its claim's lease
// ([multidrop.CheckOptions].Claim): the lease is renewed every third of
// Options.LeaseTTL and checked before every delivery, and the journal
// writes are fenced by it, so an instance that paused past its lease
// neither records, delivers nor deletes for an account another instance
// took over; its session ends without QUIT. An instance that dies leaves
// its accounts leased until the leases expire; another one then takes them
// over. Capacity planning and the sizing of leases and polls are in
// OPERATIONS.md at the repository's root.
package schedule
