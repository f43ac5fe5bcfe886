package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/admin"
)

// TestAdminProbe: the admin page's Test connection and Preview run with
// the daemon's user directory, as it stands after a reload, on the values
// of the form (the stored password when the field is empty); nothing is
// saved, deleted or delivered.
func TestAdminProbe(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	d := openDaemon(t, path, new(bytes.Buffer))
	srv, a := popAccount(t, "acct",
		msg("sales@example.com", "", "for sales"),
		msg("carol@example.com", "", "for carol"))
	stored, err := d.Store().Put(t.Context(), a)
	require.NoError(t, err)
	h, err := d.adminHandler()
	require.NoError(t, err)

	post := func(route string) string {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/csrf", nil))
		var tok admin.CSRFToken
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
		form := url.Values{"csrf": {tok.Token}, "Enabled": {"on"}, "Host": {a.Host}, "Port": {strconv.Itoa(a.Port)},
			"Domain": {a.Domain}, "Security": {"none"}, "Auth.User": {a.Auth.User}, "Auth.AllowInsecure": {"on"},
			"Version": {strconv.FormatInt(stored.Version, 10)}}
		r := httptest.NewRequest(http.MethodPost, route, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		return w.Body.String()
	}

	body := post("/edit/acct/test")
	assert.Contains(t, body, "OK: logged in to "+a.Address()+" and found 2 messages")
	assert.Contains(t, body, `data-step="TLS"><th scope="row">TLS</th><td class="status">none</td>`)

	body = post("/edit/acct/preview")
	assert.Contains(t, body, "2 of 2 messages previewed (1 to deliver, 1 to drop)")
	assert.Contains(t, body, "alice@example.com, bob@example.com", "the alias of the users file")
	assert.Contains(t, body, "not: carol@example.com (To): unknown user")

	// A reload with carol in the users file: the next preview knows her.
	f, err := os.OpenFile(filepath.Join(dir, "users"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("carol@example.com\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, d.Reload(t.Context()))
	body = post("/edit/acct/preview")
	assert.Contains(t, body, "2 of 2 messages previewed (2 to deliver)")

	assert.Len(t, srv.Mailbox("box"), 2, "nothing deleted")
	got, err := d.Store().Get(t.Context(), "acct")
	require.NoError(t, err)
	assert.Equal(t, stored, got, "nothing saved")
	entries, err := os.ReadDir(filepath.Join(dir, "mail"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing delivered")
}
