package deliver

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/internal/dovecottest"
)

// stripDomain maps user@example.com to Dovecot's domainless user name.
func stripDomain(a string) string { return a[:strings.LastIndexByte(a, '@')] }

// newUser makes a Dovecot user (dovecottest.NewUser returns once LMTP
// knows it) and returns user@example.com.
func newUser(t *testing.T, srv *dovecottest.Server, prefix string, opts ...dovecottest.UserOption) string {
	t.Helper()
	return srv.NewUser(t, prefix, opts...) + "@example.com"
}

// delivered returns the messages in user's Maildir new/ and cur/.
func delivered(t *testing.T, srv *dovecottest.Server, user string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(srv.Maildir(user), sub)
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			out = append(out, b)
		}
	}
	return out
}

func TestLMTPDovecot(t *testing.T) {
	srv := dovecottest.Get(t)
	checkNoLeak(t)
	msg := "Delivered-To: pop-box@provider.example\r\n" +
		"Subject: caf\xc3\xa9\r\n" +
		"\r\n" +
		"line one\n.\n..two dots\r\n.\r\nlast line without newline"
	now := func() time.Time { return traceTime }
	for _, tr := range []struct{ name, network, addr string }{
		{"tcp", "tcp", srv.LMTP},
		{"unix", "unix", srv.LMTPSocket},
	} {
		t.Run(tr.name, func(t *testing.T) {
			a := newUser(t, srv, "lm")
			b := newUser(t, srv, "lm")
			full := newUser(t, srv, "q", dovecottest.QuotaBytes(1))
			unknown := "nosuch" + strings.ToLower(t.Name()[len(t.Name())-3:]) + "@example.com"
			trace := TraceOptions{LocalHost: "mx.example.com", Now: now, Hygiene: Hygiene{Action: RemoveEnvelopeFields}}
			l := NewLMTP(tr.network, tr.addr, &LMTPOptions{TraceOptions: trace, RcptTo: stripDomain})
			env := Envelope{From: "sender@example.org", To: []string{a, unknown, full, "bad address@example.com", b, a},
				Trace: Trace{Host: "pop.provider.example", Key: "0000001a5f3e2d1c"}}

			res, err := l.Deliver(t.Context(), env, strings.NewReader(msg))
			require.NoError(t, err)
			require.Len(t, res, 6)
			// Over quota: the test Dovecot sets quota_full_tempfail, as most
			// sites do, so it answers 452 4.2.2: a temporary failure.
			var qe *Error
			require.ErrorAs(t, res[2].Err, &qe)
			assert.Equal(t, 452, qe.Code, "%v", qe)
			assert.Equal(t, "4.2.2", qe.Enhanced, "%v", qe)
			quota := Temporary
			want := []Status{Delivered, Permanent, quota, Permanent, Delivered, Delivered}
			for i, r := range res {
				assert.Equal(t, env.To[i], r.Recipient)
				assert.Equal(t, want[i], r.Status, "%s: %v", r.Recipient, r.Err)
			}
			var e *Error
			require.ErrorAs(t, res[1].Err, &e)
			assert.Equal(t, 550, e.Code)
			assert.Equal(t, "5.1.1", e.Enhanced)
			assert.Equal(t, quota == Temporary, IsTemporary(res[2].Err))

			// Several recipients: no "for", nobody sees another's address.
			pre, err := trace.Prelude(env, []string{a, full, b})
			require.NoError(t, err)
			body := string(pre) + strings.TrimPrefix(msg, "Delivered-To: pop-box@provider.example\r\n") + "\r\n"
			wantLF := []byte(strings.ReplaceAll(body, "\r\n", "\n"))
			wantLF = bytes.ReplaceAll(wantLF, []byte("line one\n"), []byte("line one\n")) // bare LF kept as a line break
			for _, u := range []string{a, b} {
				got := delivered(t, srv, stripDomain(u))
				require.Len(t, got, 1, u) // the duplicate recipient got one copy
				assert.True(t, bytes.HasSuffix(got[0], wantLF), "%s:\n%s", u, got[0])
				assert.NotContains(t, string(got[0]), "for <")
				assert.NotContains(t, string(got[0]), "pop-box@provider.example")
			}
			assert.Empty(t, delivered(t, srv, stripDomain(full)))
		})
	}
}

func TestLMTPDovecotOneRecipient(t *testing.T) {
	srv := dovecottest.Get(t)
	a := newUser(t, srv, "lm")
	trace := TraceOptions{LocalHost: "mx.example.com", LoopStamp: true, Now: func() time.Time { return traceTime }}
	l := NewLMTP("unix", srv.LMTPSocket, &LMTPOptions{TraceOptions: trace, RcptTo: stripDomain})
	env := Envelope{To: []string{a}, Trace: Trace{Host: "192.0.2.1", Key: "k1"}}
	res, err := l.Deliver(t.Context(), env,
		strings.NewReader("Subject: one\n\nbody\n"))
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Status, "%v", res[0].Err)
	got := delivered(t, srv, stripDomain(a))
	require.Len(t, got, 1)
	pre, err := trace.Prelude(env, env.To)
	require.NoError(t, err)
	assert.Contains(t, string(pre), "X-Multidrop-Loop: mx.example.com\r\nReceived: from [192.0.2.1] by mx.example.com with POP3 id k1")
	assert.Contains(t, string(pre), "for <"+a+">;")
	want := strings.ReplaceAll(string(pre), "\r\n", "\n") + "Subject: one\n\nbody\n"
	assert.True(t, bytes.HasSuffix(got[0], []byte(want)), "%s", got[0])
	assert.Contains(t, string(got[0]), "Return-Path: <>\n")
}
