package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// popAccount starts a poptest server with user "box" holding msgs and
// returns an account for it (plaintext on loopback; see startPOP).
func popAccount(t *testing.T, id string, msgs ...[]byte) (*poptest.Server, account.Account) {
	srv := &poptest.Server{}
	return srv, startPOP(t, srv, id, msgs...)
}

// TestOnceExitStatuses: a message kept by a temporary delivery failure
// gives ExitKept with the count and the reason in the summary; an account
// whose lease another instance holds gives ExitBusy, logged with the
// reason; a failure wins over both.
func TestOnceExitStatuses(t *testing.T) {
	dir := t.TempDir()
	// create: false: a missing Maildir is a temporary failure.
	path := writeConfig(t, dir, map[string]any{
		"deliver": map[string]any{"maildir": map[string]any{"root": "mail", "create": false}},
	})
	var logs bytes.Buffer
	d := openDaemon(t, path, &logs)
	srv, a := popAccount(t, "acct", msg("alice@example.com", "", "kept one"), msg("bob@example.com", "", "kept two"))
	_, err := d.Store().Put(t.Context(), a)
	require.NoError(t, err)

	var out bytes.Buffer
	code := d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true})
	assert.Equal(t, ExitKept, code, "output:\n%s\nlogs:\n%s", out.String(), logs.String())
	assert.Contains(t, out.String(), "1 account checked: 1 ok, 0 failed, 0 busy; 2 messages kept after a temporary delivery failure (")
	assert.Len(t, srv.Mailbox("box"), 2, "nothing deleted")
	// Off a terminal, the summary is the last log record.
	assert.Equal(t, ExitKept, d.Once(t.Context(), "acct", &Env{Stdout: &out, Stderr: &out}))
	assert.Contains(t, logs.String(), `"msg":"round finished","accounts":1,"failed":0,"busy":0,"kept_temporary":2,"kept_reason":"deliver: 451 4.3.0 maildir: Maildir `)

	// Once the Maildirs exist the retry delivers: status 0.
	for _, u := range []string{"alice", "bob"} {
		for _, sub := range []string{"tmp", "new", "cur"} {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "mail", "example.com", u, "Maildir", sub), 0o700))
		}
	}
	out.Reset()
	assert.Equal(t, ExitOK, d.Once(t.Context(), "acct", &Env{Stdout: &out, Stderr: &out}), logs.String())
	assert.Empty(t, srv.Mailbox("box"))

	// Another instance holds the lease: busy, not failed.
	lease, err := d.locker.Acquire(t.Context(), "acct", "other-instance", time.Minute)
	require.NoError(t, err)
	defer lease.Release(t.Context())
	logs.Reset()
	out.Reset()
	assert.Equal(t, ExitBusy, d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true}))
	assert.Contains(t, out.String(), "1 account checked: 0 ok, 0 failed, 1 busy")
	assert.Regexp(t, `(?m)^\s*acct\s+busy`, out.String())
	assert.Contains(t, logs.String(), `"msg":"account not checked: another check holds it","account":"acct","reason":`)
	assert.Equal(t, ExitBusy, d.Once(t.Context(), "acct", &Env{Stdout: &out, Stderr: &out}))
	assert.Contains(t, logs.String(), `"msg":"round finished","accounts":1,"failed":0,"busy":1,"kept_temporary":0}`)

	// A failing account beside the busy one: failure wins.
	_, err = d.Store().Put(t.Context(), account.Account{
		ID: "dead", Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityNone, Auth: account.Auth{User: "x", Secret: "y", AllowInsecure: true},
	})
	require.NoError(t, err)
	assert.Equal(t, ExitFailed, d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out}))
}

func TestSummaryExitStatus(t *testing.T) {
	for _, tc := range []struct {
		s    Summary
		want int
	}{
		{Summary{Accounts: 2}, ExitOK},
		{Summary{Accounts: 2, Busy: 1}, ExitBusy},
		{Summary{Accounts: 2, Busy: 1, KeptTemporary: 3}, ExitKept},
		{Summary{Accounts: 2, Failed: 1, Busy: 1, KeptTemporary: 3}, ExitFailed},
	} {
		assert.Equal(t, tc.want, tc.s.ExitStatus(), "%+v", tc.s)
	}
}
