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
)

// TestJSONStoreHistoryAndJournal: with the JSON store, the check history
// is a file beside the accounts file that survives a restart, and the
// store is opened with its journal, so that a deleted account's journal is
// kept for an account created again for the same mailbox and dropped for
// another mailbox under the same ID.
func TestJSONStoreHistoryAndJournal(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"store": map[string]any{"driver": "json", "path": "accounts.json"}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accounts.json"), []byte(`{"version": 1}`), 0o600))
	c, err := LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "accounts.history.json"), c.Store.History)

	d := openDaemon(t, path, new(bytes.Buffer))
	ctx := t.Context()
	acct := account.Account{
		ID: "acct1", Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "pw"},
	}
	_, err = d.Store().Put(ctx, acct)
	require.NoError(t, err)
	_, err = checker{d}.Check(ctx, "acct1") // nothing listens on port 1
	require.Error(t, err)
	recs, err := d.history.Checks(ctx, "acct1", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)

	// The journal follows the account through Delete and Create.
	rec := account.Record{Key: "uid-1", Rcpts: []string{"alice@example.com"}, Final: true, At: time.Now()}
	require.NoError(t, d.journal.Record(ctx, "acct1", rec))
	require.NoError(t, d.Store().Delete(ctx, "acct1"))
	_, err = d.Store().Put(ctx, acct)
	require.NoError(t, err)
	got, err := d.journal.Delivered(ctx, "acct1", "uid-1")
	require.NoError(t, err)
	assert.Equal(t, []string{"alice@example.com"}, got.Rcpts, "the same mailbox again finds its journal")

	require.NoError(t, d.Store().Delete(ctx, "acct1"))
	other := acct
	other.Host = "127.0.0.2"
	_, err = d.Store().Put(ctx, other)
	require.NoError(t, err)
	got, err = d.journal.Delivered(ctx, "acct1", "uid-1")
	require.NoError(t, err)
	assert.Empty(t, got.Rcpts, "another mailbox under the ID starts afresh")
	require.NoError(t, d.Close())

	// The history file survives a restart.
	_, err = os.Stat(c.Store.History)
	require.NoError(t, err)
	d = openDaemon(t, path, new(bytes.Buffer))
	recs, err = d.history.Checks(ctx, "acct1", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the check before the restart")
	assert.NotEmpty(t, recs[0].Error)
}
