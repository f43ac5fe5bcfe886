package multidrop_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/internal/dovecottest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// e2eMessage is one message loaded into the Dovecot POP mailbox, with the
// local users that must receive it.
type e2eMessage struct {
	data []byte
	to   []string // expected recipients (empty: dropped)
}

// providerCopy is the copy of a message the provider dropped into the
// multidrop mailbox for one envelope recipient: its Received on top, then
// the Delivered-To of that recipient, then the message as sent.
func providerCopy(rcpt, sent string) []byte {
	return []byte("Received: from mx.provider.test by pop.provider.test with LMTP id 8f1c;\r\n" +
		"\tMon, 02 Nov 2026 10:00:00 +0000\r\n" +
		"Delivered-To: " + rcpt + "\r\n" + sent)
}

// e2eCorpus returns the mailbox content for the users of example.com named
// in users (alice, bob, carol, dave in that order): copies per envelope
// recipient (one of them Bcc-only), a provider duplicate, To/Cc-only mail
// (one stored with bare LF line endings, one with dot-leading lines), and a
// message for nobody local.
func e2eCorpus(users [4]string) []e2eMessage {
	alice, bob, carol, dave := users[0], users[1], users[2], users[3]
	list := "Received: from sender.remote.test (sender.remote.test [192.0.2.7])\r\n" +
		"\tby mx.provider.test with ESMTPS; Mon, 02 Nov 2026 09:59:58 +0000\r\n" +
		"From: Sender <sender@remote.test>\r\n" +
		"To: Alice <" + alice + ">\r\n" +
		"Cc: " + bob + ", someone@remote.test\r\n" +
		"Subject: quarterly figures\r\n" +
		"Message-ID: <list-1@remote.test>\r\n" +
		"Date: Mon, 02 Nov 2026 09:59:57 +0000\r\n" +
		"\r\n" +
		"The figures are attached.\r\n.\r\n..a line with dots\r\n"
	toCc := "From: Other <other@remote.test>\r\n" +
		"To: Carol <" + strings.ToUpper(carol) + ">, x@remote.test\r\n" +
		"Cc: " + bob + "\r\n" +
		"Subject: lunch\r\n" +
		"Message-ID: <lunch@remote.test>\r\n" +
		"\r\n" +
		".leading dot\r\nsee you\r\n"
	lf := "From: lf@remote.test\n" +
		"To: " + carol + "\n" +
		"Subject: written with bare LF\n" +
		"Message-ID: <lf@remote.test>\n" +
		"\n" +
		"line one\n.\nlast line without a newline"
	foreign := "From: spam@remote.test\r\n" +
		"To: nobody@remote.test, nosuchuser@example.com\r\n" +
		"Subject: not for us\r\n" +
		"Message-ID: <foreign@remote.test>\r\n" +
		"\r\n" +
		"buy now\r\n"
	return []e2eMessage{
		{providerCopy(alice, list), []string{alice}},
		{providerCopy(bob, list), []string{bob}},
		// dave was a Bcc recipient: no header of the message names him.
		{providerCopy(dave, list), []string{dave}},
		// The provider dropped alice's copy twice.
		{providerCopy(alice, list), nil},
		{[]byte(toCc), []string{bob, carol}},
		{[]byte(lf), []string{carol}},
		{[]byte(foreign), nil},
	}
}

// expectedByUser returns, per recipient, the bytes Dovecot serves for each
// message the recipient must get.
func expectedByUser(msgs []e2eMessage) map[string][][]byte {
	want := map[string][][]byte{}
	for _, m := range msgs {
		for _, r := range m.to {
			want[r] = append(want[r], dovecottest.Served(m.data))
		}
	}
	return want
}

// e2eAccount is the account of a Dovecot POP user over implicit TLS.
func e2eAccount(t *testing.T, srv *dovecottest.Server, popUser string, mech account.Mechanism) account.Account {
	t.Helper()
	host, port, err := net.SplitHostPort(srv.POP3S)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return account.Account{
		ID: "dovecot", Enabled: true, Description: "example.com at the provider",
		Host: host, Port: p, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth:     account.Auth{User: popUser, Secret: dovecottest.Password, Mechanism: mech},
		Parsing:  account.Parsing{SkipReceived: 1}, // the provider's own Received is on top
	}
}

// e2ePipeline returns a Pipeline over an SQLite store and journal holding a.
func e2ePipeline(t *testing.T, a account.Account, users []string, d deliver.Deliverer) *multidrop.Pipeline {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "multidrop.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	_, err = db.Put(t.Context(), a)
	require.NoError(t, err)
	var tab resolve.Table
	for _, u := range users {
		tab.Users = append(tab.Users, resolve.User{Address: u})
	}
	dir, err := resolve.NewStatic(tab)
	require.NoError(t, err)
	p, err := multidrop.New(&multidrop.Options{
		Store: db, Journal: db, Locker: db,
		Resolver:  resolve.New(dir, nil),
		Deliverer: d,
		Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 10 * time.Second, Data: 10 * time.Second}}},
		Spool:     multidrop.SpoolOptions{Dir: t.TempDir()},
		LocalHost: "mx.local.test",
		Logger:    slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return p
}

// popCount opens a fresh session and returns the number of messages.
func popCount(t *testing.T, a account.Account) int {
	t.Helper()
	c, err := (&pop.Downloader{}).Connect(t.Context(), a)
	require.NoError(t, err)
	n, _, err := c.Stat(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Quit(t.Context()))
	return n
}

// preludeFields are the fields a deliverer may prepend.
var preludeFields = []string{"return-path", "delivered-to", "received", strings.ToLower(account.LoopField)}

// stripPrelude checks that file is prelude + one of want (each used once)
// and returns the index of the message matched, or -1. The prelude must
// consist of trace fields only, with received Received fields, and contain
// "Delivered-To: "+deliveredTo when that is not empty.
func stripPrelude(t *testing.T, file []byte, want [][]byte, used []bool, received int, deliveredTo string) int {
	t.Helper()
	for i, w := range want {
		if used[i] || !bytes.HasSuffix(file, w) {
			continue
		}
		pre := string(file[:len(file)-len(w)])
		var names []string
		ok := strings.HasSuffix(pre, "\r\n") || strings.HasSuffix(pre, "\n")
		for _, l := range strings.Split(strings.ReplaceAll(strings.TrimRight(pre, "\r\n"), "\r\n", "\n"), "\n") {
			if l == "" || l[0] == ' ' || l[0] == '\t' {
				continue
			}
			name, _, found := strings.Cut(l, ":")
			if !found || !slices.Contains(preludeFields, strings.ToLower(name)) {
				ok = false
				break
			}
			names = append(names, strings.ToLower(name))
		}
		if !ok || pre == "" {
			continue
		}
		used[i] = true
		assert.Equal(t, received, countOf(names, "received"), "Received fields added:\n%s", pre)
		if deliveredTo != "" {
			assert.Contains(t, pre, "Delivered-To: "+deliveredTo+"\r\n")
		}
		return i
	}
	return -1
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func readNew(t *testing.T, maildir string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(maildir, sub))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(maildir, sub, e.Name()))
			require.NoError(t, err)
			out = append(out, b)
		}
	}
	return out
}

// TestDovecotEndToEndMaildir loads a multidrop mailbox into Dovecot, runs
// CheckAll over POP3S into Maildirs, and compares every user's Maildir with
// the expected set, byte for byte apart from the trace fields added.
func TestDovecotEndToEndMaildir(t *testing.T) {
	t.Parallel()
	srv := dovecottest.Get(t)
	for _, mech := range []account.Mechanism{account.MechanismSCRAMSHA256, account.MechanismUser} {
		t.Run(string(mech), func(t *testing.T) {
			t.Parallel()
			users := [4]string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
			msgs := e2eCorpus(users)
			popUser := srv.NewUser(t, "e2e")
			for _, m := range msgs {
				srv.Load(t, popUser, m.data)
			}
			a := e2eAccount(t, srv, popUser, mech)
			root := t.TempDir()
			md, err := deliver.NewMaildir(&deliver.MaildirOptions{
				Template: "{root}/{domain}/{user}/Maildir", Root: root,
				Create: true,
				TraceOptions: deliver.TraceOptions{
					LocalHost: "mx.local.test", DeliveredTo: true, ReturnPath: true, LoopStamp: true,
					Hygiene: deliver.Hygiene{Action: deliver.KeepEnvelopeFields},
				},
				SpoolDir: t.TempDir(),
			})
			require.NoError(t, err)
			p := e2ePipeline(t, a, users[:], md)

			reports, err := p.CheckAll(t.Context())
			require.NoError(t, err)
			require.Len(t, reports, 1)
			r := reports[0]
			assert.True(t, r.Committed)
			assert.Equal(t, len(msgs), r.Listed)
			assert.Equal(t, len(msgs), r.Retrieved)
			assert.Equal(t, len(msgs), r.Deleted)
			assert.Equal(t, 6, r.Delivered)
			// Dropped by this check: the foreign-only message. The
			// provider's duplicate is deleted too, but as a copy
			// delivered before, not a drop.
			assert.Equal(t, 1, r.Dropped)
			assert.Zero(t, r.Kept)
			require.Len(t, r.Messages, len(msgs))
			for _, m := range r.Messages {
				assert.NoError(t, m.Err, "message %d: %s", m.Number, m.Reason)
			}
			assert.Equal(t, []string{users[0]}, r.Messages[3].Already, "the duplicate: %s", r.Messages[3].Reason)
			assert.Empty(t, r.Messages[6].Resolution.Recipients)
			assert.Contains(t, r.Messages[6].Reason, "no valid recipient")

			want := expectedByUser(msgs)
			for _, u := range users {
				files := readNew(t, filepath.Join(root, "example.com", strings.TrimSuffix(u, "@example.com"), "Maildir"))
				require.Len(t, files, len(want[u]), u)
				used := make([]bool, len(want[u]))
				for _, f := range files {
					// A file shared by several recipients names none of them.
					shared := bytes.Contains(f, []byte("Subject: lunch"))
					dt := u
					if shared {
						dt = ""
					}
					i := stripPrelude(t, f, want[u], used, 1, dt)
					assert.GreaterOrEqual(t, i, 0, "%s got an unexpected message:\n%s", u, f)
					if shared {
						assert.NotContains(t, string(f[:len(f)-len(want[u][max(i, 0)])]), "Delivered-To")
					}
				}
			}
			// Nobody else got anything.
			ents, err := os.ReadDir(filepath.Join(root, "example.com"))
			require.NoError(t, err)
			assert.Len(t, ents, len(users))

			assert.Zero(t, popCount(t, a), "the POP mailbox is empty")

			// A second round finds nothing and delivers nothing.
			reports, err = p.CheckAll(t.Context())
			require.NoError(t, err)
			assert.Zero(t, reports[0].Listed)
			assert.Zero(t, reports[0].Delivered)
			for _, u := range users {
				assert.Len(t, readNew(t, filepath.Join(root, "example.com", strings.TrimSuffix(u, "@example.com"), "Maildir")), len(want[u]), u)
			}
		})
	}
}

// TestDovecotEndToEndLMTP collects a Dovecot POP mailbox and delivers over
// LMTP to Dovecot users.
func TestDovecotEndToEndLMTP(t *testing.T) {
	t.Parallel()
	srv := dovecottest.Get(t)
	var names [4]string
	var users [4]string
	for i := range names {
		if i < 2 {
			names[i] = srv.NewUser(t, fmt.Sprintf("e2el%d", i))
		} else {
			names[i] = names[i-2] // carol and dave are alice and bob here
		}
		users[i] = names[i] + "@example.com"
	}
	msgs := e2eCorpus(users)
	msgs = slices.Delete(msgs, 2, 4) // the Bcc copy would repeat bob's; the duplicate stays below
	msgs = append(msgs, msgs[0])     // the provider's duplicate of alice's copy
	msgs[len(msgs)-1].to = nil
	popUser := srv.NewUser(t, "e2elp")
	for _, m := range msgs {
		srv.Load(t, popUser, m.data)
	}

	a := e2eAccount(t, srv, popUser, account.MechanismUser)
	l := deliver.NewLMTP("tcp", srv.LMTP, &deliver.LMTPOptions{
		TraceOptions: deliver.TraceOptions{LocalHost: "mx.local.test", Hygiene: deliver.Hygiene{Action: deliver.KeepEnvelopeFields}},
		RcptTo:       func(r string) string { return strings.TrimSuffix(r, "@example.com") },
		Logger:       slog.New(slog.DiscardHandler),
	})
	p := e2ePipeline(t, a, users[:2], l)

	reports, err := p.CheckAll(t.Context())
	require.NoError(t, err)
	r := reports[0]
	assert.True(t, r.Committed)
	assert.Equal(t, len(msgs), r.Deleted)
	// alice: list copy; bob: list copy, lunch; carol=alice: lunch, lf.
	assert.Equal(t, 5, r.Delivered)
	assert.Equal(t, 1, r.Dropped, "the foreign-only message; the duplicate was delivered before")

	want := expectedByUser(msgs)
	for _, u := range users[:2] {
		files := readNew(t, srv.Maildir(strings.TrimSuffix(u, "@example.com")))
		require.Len(t, files, len(want[u]), u)
		used := make([]bool, len(want[u]))
		// Dovecot stores LF line endings and adds its own Return-Path and
		// Delivered-To above ours.
		for k := range want[u] {
			want[u][k] = bytes.ReplaceAll(want[u][k], []byte("\r\n"), []byte("\n"))
		}
		for _, f := range files {
			// Ours and Dovecot's.
			i := stripPrelude(t, f, want[u], used, 2, "")
			assert.True(t, bytes.Contains(f, []byte("POP3 id ")), "our Received field is there")
			assert.GreaterOrEqual(t, i, 0, "%s got an unexpected message:\n%s", u, f)
		}
	}
	assert.Zero(t, popCount(t, a), "the POP mailbox is empty")

	reports, err = p.CheckAll(t.Context())
	require.NoError(t, err)
	assert.Zero(t, reports[0].Listed)
	assert.Zero(t, reports[0].Delivered)
}
