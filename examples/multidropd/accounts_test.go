package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run runs Main with args and stdin, and returns the status and outputs.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// TestAccountsCommands walks every accounts command on an SQLite store,
// against a poptest server, up to the walkthrough's last step: -once
// delivers what preview announced.
func TestAccountsCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, nil)
	srv, a := popAccount(t, "x",
		msg("Alice <alice@example.com>", "", "for alice"),
		msg("nobody@example.com", "", "for nobody"))

	// add from flags; the password from standard input, not argv.
	code, out, errOut := run(t, "pw\n", "accounts", "-config", cfg, "add", "-id", "shop", "-host", a.Host,
		"-port", strconv.Itoa(a.Port), "-security", "none", "-allow-insecure", "-user", "box", "-domain", "example.com",
		"-description", "the shop's mailbox")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "added shop\n", out)
	code, _, errOut = run(t, "pw\n", "accounts", "-config", cfg, "add", "-id", "shop", "-host", "h", "-user", "u", "-domain", "example.com")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, errOut, "exists already")
	code, _, errOut = run(t, "", "accounts", "-config", cfg, "add", "-id", "nopw", "-host", "h", "-user", "u", "-domain", "example.com")
	assert.Equal(t, ExitConfig, code, "no password given")
	assert.Contains(t, errOut, "empty password")

	// list, show (secret masked)
	code, out, _ = run(t, "", "accounts", "-config", cfg, "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^ID\s+ENABLED\s+SERVER`, out)
	assert.Regexp(t, `(?m)^shop\s+yes\s+127\.0\.0\.1:\d+\s+none\s+box\s+example\.com\s+the shop's mailbox$`, out)
	code, out, _ = run(t, "", "accounts", "-config", cfg, "show", "shop")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, `"host": "127.0.0.1"`)
	assert.NotContains(t, out, `"pw"`)
	code, _, errOut = run(t, "", "accounts", "-config", cfg, "show", "nope")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, errOut, `no account with ID "nope"`)

	// test: logs in, counts, deletes nothing.
	code, out, errOut = run(t, "", "accounts", "-config", cfg, "test", "shop")
	require.Equal(t, ExitOK, code, out+errOut)
	assert.Contains(t, out, "mailbox:      2 messages")
	assert.Contains(t, out, "OK: logged in")
	assert.Len(t, srv.Mailbox("box"), 2)

	// edit: a wrong password makes test fail with a verdict.
	code, out, errOut = run(t, "bad\n", "accounts", "-config", cfg, "edit", "shop", "-password", "-description", "renamed")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "changed shop\n", out)
	code, out, _ = run(t, "", "accounts", "-config", cfg, "test", "shop")
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, out, "failed at:    authenticate")
	assert.Contains(t, out, "FAILED to log in")
	code, _, errOut = run(t, "pw\n", "accounts", "-config", cfg, "edit", "shop", "-password")
	require.Equal(t, ExitOK, code, errOut)

	// preview: per message, recipients or the reason; nothing deleted.
	code, out, errOut = run(t, "", "accounts", "-config", cfg, "preview", "shop")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "Subject: for alice\n   => DELIVER: 1 valid recipient")
	assert.Contains(t, out, "   to:      alice@example.com\n")
	assert.Contains(t, out, "Subject: for nobody\n   => DROP: no valid recipient; the account's policy deletes it")
	assert.Contains(t, out, "   not:     nobody@example.com (")
	assert.Contains(t, out, "2 of 2 messages previewed (1 deliver, 1 drop); nothing was deleted or delivered.")
	assert.Len(t, srv.Mailbox("box"), 2)
	assert.Nil(t, maildirMessages(t, filepath.Join(dir, "mail", "example.com", "alice", "Maildir")))

	// export, then import into a second store.
	code, exported, _ := run(t, "", "accounts", "-config", cfg, "export")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, exported, `"version": 1`)
	assert.Contains(t, exported, `"secret": "pw"`, "an export is a backup")
	dir2 := t.TempDir()
	cfg2 := writeConfig(t, dir2, nil)
	code, out, errOut = run(t, exported, "accounts", "-config", cfg2, "import")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "imported 1 account\n", out)
	code, out, _ = run(t, "", "accounts", "-config", cfg2, "list")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, "renamed")
	code, _, errOut = run(t, `{"accounts": []}`, "accounts", "-config", cfg2, "import")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, errOut, `want "version": 1`)
	code, _, errOut = run(t, `{"version": 1, "accounts": [{"id": "a", "leave_on_sever": true}]}`, "accounts", "-config", cfg2, "import")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, errOut, "leave_on_sever")

	// add -json
	code, _, errOut = run(t, `{"id": "j", "enabled": true, "host": "pop.example.net", "domain": "example.org", "auth": {"user": "u", "secret": "s"}}`,
		"accounts", "-config", cfg2, "add", "-json")
	require.Equal(t, ExitOK, code, errOut)

	// disable, enable, delete
	for _, c := range [][]string{{"disable", "j"}, {"enable", "j"}, {"delete", "j", "shop"}} {
		code, _, errOut = run(t, "", append([]string{"accounts", "-config", cfg2}, c...)...)
		require.Equal(t, ExitOK, code, "%v: %s", c, errOut)
	}
	code, out, _ = run(t, "", "accounts", "-config", cfg2, "list")
	require.Equal(t, ExitOK, code)
	assert.NotContains(t, out, "shop")

	// The walkthrough's last step: -once delivers what preview said.
	code, _, errOut = run(t, "", "-config", cfg, "-once")
	require.Equal(t, ExitOK, code, errOut)
	assert.Len(t, maildirMessages(t, filepath.Join(dir, "mail", "example.com", "alice", "Maildir")), 1)
	assert.Empty(t, srv.Mailbox("box"))

	code, _, _ = run(t, "", "accounts", "-config", cfg, "frobnicate")
	assert.Equal(t, ExitConfig, code)
	_, err := os.Stat(cfg)
	require.NoError(t, err)
}

// The accounts file example in CONFIG.md is one import takes.
func TestConfigAccountsFileExample(t *testing.T) {
	doc, err := os.ReadFile("CONFIG.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(doc), "### The accounts file")
	require.True(t, ok)
	_, after, ok = strings.Cut(after, "```json\n")
	require.True(t, ok)
	example, _, ok := strings.Cut(after, "```")
	require.True(t, ok)

	dir := t.TempDir()
	cfg := writeConfig(t, dir, nil)
	code, out, errOut := run(t, example, "accounts", "-config", cfg, "import")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "imported 1 account\n", out)
	code, out, _ = run(t, "", "accounts", "-config", cfg, "show", "shop")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, `"postmaster": "postmaster@example.com"`)
}

// The deletion guard holds an account whose mail has no valid recipient
// (here with pipeline.guard_min 2) across -once runs, until "accounts
// release-guard" confirms; the next run deletes.
func TestAccountsReleaseGuard(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"local_host": "mx.test.example", "guard_min": 2}})
	srv, a := popAccount(t, "x", msg("nobody@example.com", "", "for nobody"), msg("noone@example.com", "", "for no one"))
	code, _, errOut := run(t, "pw\n", "accounts", "-config", cfg, "add", "-id", "shop", "-host", a.Host,
		"-port", strconv.Itoa(a.Port), "-security", "none", "-allow-insecure", "-user", "box", "-domain", "example.com")
	require.Equal(t, ExitOK, code, errOut)

	for range 2 {
		code, _, errOut = run(t, "", "-config", cfg, "-once")
		assert.Equal(t, ExitFailed, code, errOut)
		assert.Contains(t, errOut, "deletion guard")
		assert.Len(t, srv.Mailbox("box"), 2, "kept by the guard, run after run")
	}

	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"shop"}, ExitOK, "released the deletion guard of shop (held since "},
		{[]string{"shop"}, ExitOK, "the deletion guard did not hold shop"},
		{[]string{"nope"}, ExitConfig, ""},
		{nil, ExitConfig, ""},
	} {
		code, out, errOut := run(t, "", append([]string{"accounts", "-config", cfg, "release-guard"}, tc.args...)...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		assert.Contains(t, out, tc.out, tc.args)
		if tc.out == "" {
			assert.NotEmpty(t, errOut, tc.args)
		}
	}
	code, _, errOut = run(t, "", "-config", cfg, "-once")
	require.Equal(t, ExitOK, code, errOut)
	assert.Empty(t, srv.Mailbox("box"), "the release let the next run delete")
}
