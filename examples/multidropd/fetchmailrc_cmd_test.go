package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The multidrop entries of a fetchmailrc become accounts and users file
// lines; what cannot be mapped is listed with its line.
func TestImportFetchmailrc(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, nil)
	users := filepath.Join(dir, "imported-users")
	rc := filepath.Join("..", "..", "internal", "fetchmailrc", "testdata", "multidrop.fetchmailrc")
	code, out, errOut := run(t, "", "accounts", "-config", cfg, "import", "-fetchmailrc", rc, "-users", users, "-domain", "team.example")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "imported shop-domain@pop.provider.example (shop-domain@pop.provider.example:995 for example.com, example.org)")
	assert.Contains(t, out, "imported team@mail.other.example (team@mail.other.example:110 for team.example)")
	assert.Contains(t, out, "2 accounts imported")
	for _, n := range []string{
		"line 2: set daemon 300: the check interval is pipeline.interval",
		"line 3: set postmaster postmaster: set the accounts' policy.postmaster",
		"line 4: set no bouncemail: not mapped",
		"line 8: poll pop.provider.example: aka mx.example.com: not needed",
		`line 16: smtphost "localhost": not mapped`,
		"line 13: user shop-domain: is * here: every user of example.com, example.org receives their own mail",
		`line 13: user shop-domain: sslfingerprint "AB:CD:EF" is a digest of the whole certificate`,
		"line 19: user team: no ssl: the account requires STLS",
		"line 19: user team: flush: not mapped",
		`line 20: mda "/usr/bin/procmail -d %T": not mapped`,
		"line 22: poll imap.example.net: protocol imap: only POP3 mailboxes can be imported; skipped",
		"line 24: poll single.example user solo: a single-drop entry",
	} {
		assert.Contains(t, out, n)
	}

	b, err := os.ReadFile(users)
	require.NoError(t, err)
	assert.Equal(t, "# from "+rc+"\nalice@team.example\nbob@team.example\nsales@team.example: alice@team.example\n", string(b))

	code, out, _ = run(t, "", "accounts", "-config", cfg, "export")
	require.Equal(t, ExitOK, code)
	for _, s := range []string{`"secret": "p@ss \"word\""`, `"X-Original-To:2"`, `"strip_prefix": "shop-"`,
		`"leave_on_server": true`, `"max_message_size": 1000000`, `"security": "tls"`, `"security": "starttls"`} {
		assert.Contains(t, out, s)
	}
	assert.Equal(t, 1, strings.Count(out, `"leave_on_server": true`), "no keep on the second")

	// Importing again refuses: the accounts exist.
	code, _, errOut = run(t, "", "accounts", "-config", cfg, "import", "-fetchmailrc", rc, "-domain", "team.example")
	assert.Equal(t, ExitConfig, code)
	assert.Contains(t, errOut, "exists already")
}
