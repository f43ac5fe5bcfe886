package main

import (
	"bytes"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// want is the routing of one sample message.
type want struct {
	action    pop.Action
	reason    string
	delivered []string          // delivered in this check
	already   []string          // skipped: another copy delivered them
	rejected  map[string]string // candidate address -> reason
	lines     []string          // printed in the message's block
}

var routing = map[string]want{
	"u01": {action: pop.Delete, reason: "delivered", delivered: []string{"alice@example.com"},
		lines: []string{"X-Original-To #1  envelope  alice@example.com  -> alice@example.com DELIVERED", "Delivered-To #1   envelope  alice@example.com  not used: duplicate"}},
	"u02": {action: pop.Delete, reason: "delivered", delivered: []string{"bob@example.com"},
		lines: []string{"-> bob@example.com DELIVERED"}},
	"u03": {action: pop.Delete, reason: "delivered", delivered: []string{"dave@example.com"},
		lines: []string{"X-Original-To #1  envelope  dave@example.com  -> dave@example.com DELIVERED"}},
	"u04": {action: pop.Delete, reason: "delivered", delivered: []string{"carol@example.com", "bob@example.com"},
		rejected: map[string]string{"frank@example.net": string(resolve.ReasonForeign)},
		lines:    []string{"To #1  guess  carol@example.com  -> carol@example.com DELIVERED", "Cc #1  guess  frank@example.net  REJECTED: foreign domain"}},
	"u05": {action: pop.Delete, reason: "delivered", already: []string{"carol@example.com", "bob@example.com"},
		rejected: map[string]string{"frank@example.net": string(resolve.ReasonForeign)},
		lines:    []string{"-> carol@example.com already delivered (another copy)", "-> bob@example.com already delivered (another copy)"}},
	"u06": {action: pop.Delete, reason: "delivered", delivered: []string{"bob@example.com"},
		lines: []string{"X-Original-To #1  envelope  bob@example.com  -> bob@example.com DELIVERED"}},
	"u07": {action: pop.Delete, reason: "delivered", delivered: []string{"alice@example.com", "bob@example.com"},
		lines: []string{"sales@example.com  -> alice@example.com DELIVERED, bob@example.com DELIVERED"}},
	"u08": {action: pop.Delete, reason: "delivered", delivered: []string{"carol@example.com"},
		lines: []string{`Received #1  received  carol+invoices@example.com  -> carol@example.com DELIVERED (subaddress "+invoices" removed)`}},
	"u09": {action: pop.Delete, reason: "no valid recipient; deleted",
		rejected: map[string]string{"winner@example.org": string(resolve.ReasonForeign)},
		lines:    []string{"To #1  guess  winner@example.org  REJECTED: foreign domain"}},
	"u10": {action: pop.Delete, reason: "no valid recipient; deleted",
		rejected: map[string]string{"jobs@example.com": string(resolve.ReasonUnknown)},
		lines:    []string{`To #1  guess  jobs@example.com  REJECTED: unknown user (no user "jobs" in example.com)`}},
	"u11": {action: pop.Keep, reason: "oversize, postmaster notified",
		lines: []string{"(not downloaded)", "=> kept on the server: oversize, postmaster notified"}},
}

// inbox is which sample messages (by Message-ID) each user finds in new/.
var inbox = map[string][]string{
	"alice@example.com": {"<order-4711@shop.example.net>", "<q4-planning.7731@example.net>"},
	"bob@example.com":   {"<CAGo1234.iter@example.org>", "<lunch.20261124@example.net>", "<order-4711@shop.example.net>", "<q4-planning.7731@example.net>"},
	"carol@example.com": {"<inv-2026-118@example.net>", "<lunch.20261124@example.net>"},
	"dave@example.com":  {"<q4-planning.7731@example.net>"},
}

func TestRunRoutesTheSampleMailbox(t *testing.T) {
	root := t.TempDir()
	var buf bytes.Buffer
	out, err := run(t.Context(), &buf, config{Out: root})
	require.NoError(t, err)
	require.NotNil(t, out.Report)
	text := buf.String()
	r := out.Report

	// Every message, as listed, is accounted for once.
	require.Len(t, r.Messages, len(routing))
	blocks := messageBlocks(t, text)
	for _, m := range r.Messages {
		w, ok := routing[m.UID]
		require.True(t, ok, "unexpected message %s", m.UID)
		t.Run(m.UID, func(t *testing.T) {
			assert.Equal(t, w.action, m.Action)
			assert.Equal(t, w.reason, m.Reason)
			assert.NoError(t, m.Err)
			var got []string
			for _, res := range m.Results {
				assert.NoError(t, res.Err)
				got = append(got, res.Recipient)
			}
			assert.Equal(t, w.delivered, got, "delivered")
			assert.Equal(t, w.already, m.Already, "already delivered")
			rej := map[string]string{}
			for _, x := range m.Resolution.Rejected {
				if x.Reason != resolve.ReasonDuplicate {
					rej[x.Candidate.Address] = string(x.Reason)
				}
			}
			if w.rejected == nil {
				w.rejected = map[string]string{}
			}
			assert.Equal(t, w.rejected, rej, "rejected")

			block := blocks[m.UID]
			verb := "kept on the server"
			if w.action == pop.Delete {
				verb = "deleted from the server"
			}
			assert.Contains(t, block, "=> "+verb+": "+w.reason)
			for _, l := range w.lines {
				assert.Contains(t, block, l)
			}
		})
	}

	// The check's totals.
	assert.Equal(t, multidrop.Report{
		Account: "example-com", Listed: 11, Retrieved: 10, Skipped: 1, Delivered: 9,
		Dropped: 2, Kept: 0, Deleted: 10, Bytes: downloadedBytes(), Committed: true,
	}, totals(r))
	for name, v := range map[string]string{
		"listed": "11", "retrieved": "10", "skipped": "1", "delivered": "9", "dropped": "2",
		"kept": "0", "deleted": "10", "committed": "yes",
	} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^  `+name+` +`+v+`( |$)`), text, name)
	}

	// Each user's Maildir holds exactly the messages routed to them, once.
	for user, ids := range inbox {
		assert.Equal(t, ids, messageIDs(t, maildirOf(root, user)), user)
	}
	assert.Equal(t, map[string]int{
		"alice@example.com": 2, "bob@example.com": 4, "carol@example.com": 2,
		"dave@example.com": 1, "postmaster@example.com": 1,
	}, out.Files)
	notice := readNew(t, maildirOf(root, postmaster))
	require.Len(t, notice, 1)
	assert.Contains(t, notice[0].Header.Get("Subject"), "Oversize message")
	assert.Regexp(t, regexp.MustCompile(`(?m)^  postmaster@example\.com  1  .*/example\.com/postmaster/Maildir/new$`), text)

	// Only the oversize message stays in the POP mailbox.
	require.Len(t, out.Left, 1)
	assert.Equal(t, "u11", out.Left[0].UID)
	assert.Contains(t, text, "Left in the POP mailbox: 1\n  uid u11  \"Site photos\"\n")

	// The server is gone when run returns.
	_, err = net.DialTimeout("tcp", out.Server, time.Second)
	assert.Error(t, err, "POP server still listening")

	// The resolution steps are printed only with -v.
	assert.NotContains(t, text, "resolution: mode chain")
}

func TestRunVerbose(t *testing.T) {
	var buf bytes.Buffer
	_, err := run(t.Context(), &buf, config{Out: t.TempDir(), Verbose: true})
	require.NoError(t, err)
	text := buf.String()
	for _, l := range []string{
		"resolution: mode chain, decided by stage envelope: 2 candidates, 1 kept, 1 rejected",
		"X-Original-To#1 (envelope) <sales@example.com>: kept -> alice@example.com, bob@example.com via directory",
		"resolution: mode chain, decided by stage received:",
		`To#1 (guess) "Jobs" <jobs@example.com>: rejected: unknown user`,
	} {
		assert.Contains(t, text, l)
	}
	// Ten downloaded messages, ten explanations; none for the oversize one.
	assert.Equal(t, 10, strings.Count(text, "    resolution: mode "))
}

// A second run into the same directory starts from the same mailbox with a
// fresh (memory) journal: every message is routed again, but the Maildir's
// key names find each earlier file, so no user gets a second copy. Only the
// postmaster gets a second oversize notice: the memory journal forgot the
// first.
func TestRunTwiceDeliversNoSecondCopy(t *testing.T) {
	root := t.TempDir()
	first, err := run(t.Context(), &bytes.Buffer{}, config{Out: root})
	require.NoError(t, err)
	var buf bytes.Buffer
	second, err := run(t.Context(), &buf, config{Out: root})
	require.NoError(t, err)

	assert.Equal(t, totals(first.Report), totals(second.Report))
	for user, n := range first.Files {
		if user == postmaster {
			assert.Equal(t, n+1, second.Files[user], user)
			continue
		}
		assert.Equal(t, n, second.Files[user], user)
	}
	for user, ids := range inbox {
		assert.Equal(t, ids, messageIDs(t, maildirOf(root, user)), user)
	}
	require.Len(t, second.Left, 1)
	assert.Equal(t, "u11", second.Left[0].UID)
}

func TestRunDefaultDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var buf bytes.Buffer
	out, err := run(t.Context(), &buf, config{})
	require.NoError(t, err)
	assert.Equal(t, tmp, filepath.Dir(out.Root))
	assert.True(t, strings.HasPrefix(filepath.Base(out.Root), "multidrop-demo-"), out.Root)
	assert.Contains(t, buf.String(), "Maildirs under "+out.Root+" (kept after the demo)")
	_, err = os.Stat(filepath.Join(out.Root, "example.com", "bob", "Maildir", "new"))
	assert.NoError(t, err)
}

func TestRunBadOut(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	_, err := run(t.Context(), &bytes.Buffer{}, config{Out: filepath.Join(f, "sub")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo: ")
}

// totals is r without its per-message trace and timing.
func totals(r *multidrop.Report) multidrop.Report {
	c := *r
	c.Messages, c.Start, c.Duration = nil, time.Time{}, 0
	return c
}

// downloadedBytes is the size of every sample under the account's limit.
func downloadedBytes() int64 {
	var n int64
	for _, s := range mailbox() {
		if len(s.Data) <= maxMessageSize {
			n += int64(len(s.Data))
		}
	}
	return n
}

// messageBlocks splits the printed messages by UID.
func messageBlocks(t *testing.T, text string) map[string]string {
	t.Helper()
	head := regexp.MustCompile(`(?m)^#\d+  uid (u\d+)  `)
	idx := head.FindAllStringSubmatchIndex(text, -1)
	require.Len(t, idx, len(routing))
	out := map[string]string{}
	for i, m := range idx {
		end := strings.Index(text[m[0]:], "\n\n")
		require.Positive(t, end, "block %d not terminated", i)
		out[text[m[2]:m[3]]] = text[m[0] : m[0]+end]
	}
	return out
}

func readNew(t *testing.T, maildir string) []*mail.Message {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(maildir, "new"))
	require.NoError(t, err)
	var out []*mail.Message
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(maildir, "new", e.Name()))
		require.NoError(t, err)
		m, err := mail.ReadMessage(bytes.NewReader(b))
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// messageIDs lists the Message-IDs in a Maildir's new/, sorted.
func messageIDs(t *testing.T, maildir string) []string {
	t.Helper()
	var ids []string
	for _, m := range readNew(t, maildir) {
		ids = append(ids, m.Header.Get("Message-ID"))
	}
	slices.Sort(ids)
	return ids
}
