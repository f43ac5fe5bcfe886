package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// hash-password reads the password from standard input (never argv) and
// prints a bcrypt hash that admin.password accepts and requireAuth checks.
func TestHashPasswordAndBcryptAuth(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"hash-password"}, &Env{Stdin: strings.NewReader("s3cret pass\n"), Stdout: &out, Stderr: &errOut})
	require.Equal(t, ExitOK, code, errOut.String())
	hash := strings.TrimSpace(out.String())
	require.True(t, isBcryptHash(hash), hash)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret pass")))
	cost, err := bcrypt.Cost([]byte(hash))
	require.NoError(t, err)
	assert.Equal(t, bcryptCost, cost)

	assert.Equal(t, ExitConfig, Main(t.Context(), []string{"hash-password", "onargv"}, &Env{Stdout: &out, Stderr: &errOut}), "no password on the command line")
	assert.Equal(t, ExitConfig, Main(t.Context(), []string{"hash-password"}, &Env{Stdin: strings.NewReader("\n"), Stdout: &out, Stderr: &errOut}), "empty")

	// The configuration takes the hash.
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"admin": map[string]any{"listen": "127.0.0.1:0", "user": "admin", "password": hash}})
	c, err := LoadConfig(path)
	require.NoError(t, err)

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := requireAuth(c.Admin, ok)
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"admin", "s3cret pass", http.StatusNoContent},
		{"admin", "s3cret pass", http.StatusNoContent}, // remembered
		{"admin", hash, http.StatusUnauthorized},       // the hash is not the password
		{"admin", "wrong", http.StatusUnauthorized},
		{"other", "s3cret pass", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(tc.user, tc.pass)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, tc.want, w.Code, "%s:%s", tc.user, tc.pass)
	}

	// Something that starts like a hash but is not one is refused.
	bad := filepath.Join(dir, "bad.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, bytes.Replace(b, []byte(hash), []byte(hash[:59]), 1), 0o600))
	_, err = LoadConfig(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "admin.password: starts like a bcrypt hash but is not one")
}
