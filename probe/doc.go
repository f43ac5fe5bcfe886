// Package probe tries a remote POP account without changing it: [Test]
// connects, verifies TLS, reads the capabilities, authenticates, counts the
// messages with STAT and quits; [Preview] downloads messages and says, for
// each, to whom the Pipeline would deliver it, or whether it would drop or
// keep it, and why. Neither deletes a message (no DELE is ever sent),
// delivers anything or writes to a journal.
//
// Both are built from the leaf packages only ([pop.Downloader], [parse],
// [resolve]), so the multidropd command ("accounts test", "accounts
// preview") and an admin page can offer them before an account is saved.
//
// A preview is an estimate: it does not consult the journal (a message
// delivered before would be deleted without a second delivery), and it
// does not apply the deletion guard, which judges several messages
// together.
package probe
