package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
)

// TestRestartReleasesCrashedLeases: a daemon started after a crash
// releases at once the leases its dead predecessor on this host held, so
// its accounts are claimed again without waiting for lease_ttl; a lease of
// another host stays until it expires.
func TestRestartReleasesCrashedLeases(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	ctx := t.Context()

	me := account.ProcessOwner()
	host, _, _ := strings.Cut(me, ":")
	tag := me[strings.LastIndexByte(me, ':')+1:]
	const deadPid = "2147483647" // above any pid_max
	st, err := sqlite.Open(ctx, filepath.Join(dir, "multidrop.db"), nil)
	require.NoError(t, err)
	for id, owner := range map[string]string{
		"crashed": host + ":" + deadPid + ":" + tag,
		"other":   "other-" + host + ":" + deadPid + ":" + tag,
	} {
		_, err := st.Put(ctx, account.Account{
			ID: id, Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
			Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "s"},
		})
		require.NoError(t, err)
		_, err = st.Acquire(ctx, id, owner, time.Hour)
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())

	var logs bytes.Buffer
	openDaemon(t, path, &logs)
	assert.Contains(t, logs.String(), "released the leases of crashed processes")

	st, err = sqlite.Open(ctx, filepath.Join(dir, "multidrop.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	cs, err := st.Claim(ctx, account.ProcessOwner(), 10, time.Minute)
	require.NoError(t, err)
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.Account.ID)
	}
	assert.Equal(t, []string{"crashed"}, ids)
}
