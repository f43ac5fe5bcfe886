package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/admin"
)

func TestRequireAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "in") })
	both := AdminConfig{User: "admin", Password: "pw", Token: "0123456789abcdef-token"}
	tokenOnly := AdminConfig{Token: "0123456789abcdef-token"}
	tests := []struct {
		name      string
		cfg       AdminConfig
		set       func(r *http.Request)
		code      int
		challenge string
	}{
		{"no credentials", both, func(*http.Request) {}, 401, "Basic"},
		{"basic ok", both, func(r *http.Request) { r.SetBasicAuth("admin", "pw") }, 200, ""},
		{"basic wrong password", both, func(r *http.Request) { r.SetBasicAuth("admin", "pW") }, 401, "Basic"},
		{"basic wrong user", both, func(r *http.Request) { r.SetBasicAuth("root", "pw") }, 401, "Basic"},
		{"basic empty", both, func(r *http.Request) { r.SetBasicAuth("", "") }, 401, "Basic"},
		{"bearer ok", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-token") }, 200, ""},
		{"bearer wrong", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-tokem") }, 401, "Basic"},
		{"bearer prefix of token", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef") }, 401, "Basic"},
		{"token only, ok", tokenOnly, func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-token") }, 200, ""},
		{"token only, basic refused", tokenOnly, func(r *http.Request) { r.SetBasicAuth("", "") }, 401, "Bearer"},
		{"bearer lower case", both, func(r *http.Request) { r.Header.Set("Authorization", "bearer 0123456789abcdef-token") }, 200, ""},
		{"bearer upper case", tokenOnly, func(r *http.Request) { r.Header.Set("Authorization", "BEARER 0123456789abcdef-token") }, 200, ""},
		{"basic lower case", both, func(r *http.Request) {
			r.SetBasicAuth("admin", "pw")
			r.Header.Set("Authorization", "basic"+strings.TrimPrefix(r.Header.Get("Authorization"), "Basic"))
		}, 200, ""},
		{"bearer without space", tokenOnly, func(r *http.Request) { r.Header.Set("Authorization", "Bearer0123456789abcdef-token") }, 401, "Bearer"},
		{"token only, empty bearer", tokenOnly, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 401, "Bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			tc.set(r)
			w := httptest.NewRecorder()
			requireAuth(tc.cfg, ok).ServeHTTP(w, r)
			assert.Equal(t, tc.code, w.Code)
			if tc.code == 200 {
				assert.Equal(t, "in", w.Body.String())
			} else {
				assert.NotContains(t, w.Body.String(), "in\n")
				assert.True(t, strings.HasPrefix(w.Header().Get("WWW-Authenticate"), tc.challenge), w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestAdminServer runs the daemon with the admin page on a loopback port
// and drives it over HTTP: authentication, the page, the JSON API over the
// daemon's store, and the shutdown that closes the port.
func TestAdminServer(t *testing.T) {
	dir := t.TempDir()
	const token = "test-token-0123456789"
	path := writeConfig(t, dir, map[string]any{
		"admin": map[string]any{"listen": "127.0.0.1:0", "user": "admin", "password": "secret-pw", "token": token},
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	done := make(chan int, 1)
	go func() {
		defer pw.Close()
		done <- Main(ctx, []string{"-config", path}, &Env{Stdout: pw, Stderr: pw})
	}()
	lines := bufio.NewScanner(pr)
	var addr string
	var logged strings.Builder
	for addr == "" && lines.Scan() {
		logged.WriteString(lines.Text() + "\n")
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "admin server listening" {
			addr = rec.Addr
		}
	}
	require.NotEmpty(t, addr, "no listening line in:\n%s", logged.String())
	go func() { _, _ = io.Copy(io.Discard, pr) }() // keep the daemon's log flowing

	base := "http://" + addr
	get := func(path string, set func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		require.NoError(t, err)
		set(req)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	res, _ := get("/", func(*http.Request) {})
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, body := get("/", func(r *http.Request) { r.SetBasicAuth("admin", "secret-pw") })
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "Remote POP Accounts")

	res, body = get("/healthz", func(*http.Request) {})
	assert.Equal(t, http.StatusOK, res.StatusCode, "liveness needs no credentials")
	assert.Equal(t, "ok\n", body)
	res, body = get("/readyz", func(*http.Request) {})
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "ready\n", body)
	res, _ = get("/metrics", func(*http.Request) {})
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "metrics need credentials")
	res, body = get("/metrics", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) })
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "version=0.0.4")
	assert.Contains(t, body, "# TYPE multidrop_check_duration_seconds histogram")

	res, body = get("/api/accounts", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) })
	assert.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Contains(t, res.Header.Get("Content-Type"), "json")

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, ExitOK, code)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "the admin port is closed after the stop")
}

// TestAdminSeesStore checks that the admin handler works over the
// daemon's store and current Pipeline: an account put in the store is
// listed, and a report survives a reload that replaces the Pipeline.
func TestAdminSeesStore(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	d := openDaemon(t, path, new(bytes.Buffer))
	_, err := d.Store().Put(t.Context(), account.Account{
		ID: "acct1", Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "top-secret-pw"},
	})
	require.NoError(t, err)
	h, err := d.adminHandler()
	require.NoError(t, err)
	r := httptest.NewRequest("GET", "/api/accounts", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "acct1")
	assert.NotContains(t, w.Body.String(), "top-secret-pw")

	// A check through the admin's Checker, then a reload replacing the
	// Pipeline: the report is still found.
	r1, _ := checker{d}.Check(t.Context(), "acct1")
	require.NotNil(t, r1)
	writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"interval": "1m"}})
	require.NoError(t, d.Reload(t.Context()))
	assert.Same(t, r1, checker{d}.LastReport("acct1"))
	assert.Nil(t, checker{d}.LastReport("other"))

	// The check is in the store's history (SQLite keeps it), on the
	// history page, and in the metrics.
	recs, err := d.history.Checks(t.Context(), "acct1", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.NotEmpty(t, recs[0].Error)
	_, isStore := d.store.(account.History)
	assert.True(t, isStore, "the default SQLite store keeps the history")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/history/acct1", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `<section class="check check-failed"`)
	w = httptest.NewRecorder()
	d.metrics.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	assert.Contains(t, w.Body.String(), `multidrop_check_errors_total{account="acct1"} 1`)

	// Check Now on a disabled account runs once and leaves it disabled.
	_, err = d.Store().Put(t.Context(), account.Account{
		ID: "off", Enabled: false, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "pw"},
	})
	require.NoError(t, err)
	_, err = checker{d}.Check(t.Context(), "off")
	assert.ErrorIs(t, err, multidrop.ErrAccountDisabled)
	rep, err := checker{d}.CheckOnce(t.Context(), "off")
	require.NotNil(t, rep, "the check ran")
	assert.Error(t, err, "nothing listens on port 1")
	assert.NotErrorIs(t, err, multidrop.ErrAccountDisabled)
	off, err := d.Store().Get(t.Context(), "off")
	require.NoError(t, err)
	assert.False(t, off.Enabled)
}

// TestAdminListenBusy: an admin address in use stops the daemon at start
// with status 2 and a message that names the key.
func TestAdminListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{
		"admin": map[string]any{"listen": ln.Addr().String(), "token": "0123456789abcdef0123"},
	})
	var stdout, stderr strings.Builder
	assert.Equal(t, ExitConfig, Main(t.Context(), []string{"-config", path}, &Env{Stdout: &stdout, Stderr: &stderr}))
	assert.Contains(t, stderr.String(), path+": admin.listen: ")
	assert.Contains(t, stderr.String(), "address already in use")
}

// TestAdminServerLimits checks the admin server's bounds: an idle
// keep-alive connection is closed, a client that never finishes its header
// is cut off, and a huge header is refused.
func TestAdminServerLimits(t *testing.T) {
	srv := newAdminServer(http.NotFoundHandler(), nil)
	assert.Equal(t, adminReadHeaderTimeout, srv.ReadHeaderTimeout)
	assert.Equal(t, adminIdleTimeout, srv.IdleTimeout)
	assert.Equal(t, adminMaxHeaderBytes, srv.MaxHeaderBytes)
	assert.Positive(t, srv.IdleTimeout)
	assert.Positive(t, srv.ReadHeaderTimeout)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	big := strings.Repeat("a", 2*adminMaxHeaderBytes)
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
}

// TestAdminShowsSchedule: with the daemon's schedule running, the page's
// state and next-check columns come from it: a failing account is shown
// backing off with the reason and its next check.
func TestAdminShowsSchedule(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"interval": "10s"}})
	d := openDaemon(t, path, new(bytes.Buffer))
	_, err := d.Store().Put(t.Context(), account.Account{
		ID: "down", Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "pw"},
	})
	require.NoError(t, err)
	assert.Equal(t, admin.Status{}, checker{d}.Status("down"), "no schedule runs yet")

	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	require.Eventually(t, func() bool {
		return checker{d}.Status("down").Backoff != ""
	}, 20*time.Second, 50*time.Millisecond, "the failed check is seen by the page")
	st := checker{d}.Status("down")
	assert.Equal(t, "the last check failed", st.Backoff)
	assert.False(t, st.Next.IsZero(), "a next check is known")

	h, err := d.adminHandler()
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "backing off")
	assert.Contains(t, w.Body.String(), "the last check failed")
}

// TestAdminReleaseGuard: the daemon's admin page says which account the
// deletion guard holds (its checker is an admin.GuardKeeper over the
// current Pipeline), and its API releases it; the next check deletes.
func TestAdminReleaseGuard(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"local_host": "mx.test.example", "guard_min": 2}})
	srv, a := popAccount(t, "x", msg("nobody@example.com", "", "for nobody"), msg("noone@example.com", "", "for no one"))
	code, _, errOut := run(t, "pw\n", "accounts", "-config", cfg, "add", "-id", "shop", "-host", a.Host,
		"-port", strconv.Itoa(a.Port), "-security", "none", "-allow-insecure", "-user", "box", "-domain", "example.com")
	require.Equal(t, ExitOK, code, errOut)
	d := openDaemon(t, cfg, new(bytes.Buffer))
	h, err := d.adminHandler()
	require.NoError(t, err)
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	rep, err := checker{d}.Check(t.Context(), "shop")
	require.ErrorIs(t, err, multidrop.ErrDeletionGuard)
	require.NotNil(t, rep.Guard)
	assert.Len(t, srv.Mailbox("box"), 2)
	body := serve(httptest.NewRequest("GET", "/", nil)).Body.String()
	assert.Contains(t, body, `deletion guard holds it<span class="reason">: since `)
	assert.Contains(t, body, "2 of the last 2 messages had no valid recipient")
	assert.Contains(t, body, `id="btn-release-guard"`)

	var tok admin.CSRFToken
	require.NoError(t, json.Unmarshal(serve(httptest.NewRequest("GET", "/api/csrf", nil)).Body.Bytes(), &tok))
	r := httptest.NewRequest("POST", "/api/accounts/shop/release-guard", nil)
	r.Header.Set(admin.CSRFHeader, tok.Token)
	w := serve(r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var st admin.GuardState
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, admin.GuardState{ID: "shop", Released: true}, st)
	g, err := checker{d}.Guard(t.Context(), "shop")
	require.NoError(t, err)
	assert.False(t, g.Holds())
	assert.NotContains(t, serve(httptest.NewRequest("GET", "/", nil)).Body.String(), "deletion guard holds it")

	_, err = checker{d}.Check(t.Context(), "shop")
	require.NoError(t, err)
	assert.Empty(t, srv.Mailbox("box"), "the release let the next check delete")
}
