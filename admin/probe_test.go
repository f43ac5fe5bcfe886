package admin

import (
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/probe"
	"github.com/multidrop/multidrop/resolve"
)

// probeEnv is an env whose Handler, mounted at prefix, has a Prober over
// the test directory.
func probeEnv(t *testing.T, srv *poptest.Server, prefix string) *env {
	t.Helper()
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}, {Address: "bob@example.com"}}})
	require.NoError(t, err)
	return newEnv(t, srv, func(o *Options) {
		o.Prefix = prefix
		o.Prober = &Probe{Options: probe.PreviewOptions{Resolver: resolve.New(dir, nil), LocalHost: "mx.local.test"}}
	})
}

// verbsOf returns the commands the server received.
func verbsOf(srv *poptest.Server) []string {
	var v []string
	for _, c := range srv.Transcript() {
		v = append(v, c.Name)
	}
	return v
}

// checkLeaks fails t when goroutines started after it are still running
// when the returned function is called (the probes' sessions on both
// ends are closed).
func checkLeaks(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines leaked") {
			buf := make([]byte, 1<<20)
			t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
	}
}

// TestProbeTestConnection: Test connection tries the values of the form,
// the stored password when the field is empty, and shows each step and
// the certificate; nothing is saved, the password is never shown.
func TestProbeTestConnection(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("hi", "To: alice@example.com")})
	e := probeEnv(t, srv, "")
	stored := e.put(e.account("a", popDomain))
	defer checkLeaks(t)()

	form := formOf(stored)
	form.Del("Auth.Secret") // empty: the stored one
	form.Set("Version", strconv.FormatInt(stored.Version, 10))
	form.Set("Description", "changed but not saved")
	w := e.post("/edit/a/test", form)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	assert.Contains(t, body, `id="test-verdict">OK: logged in to `+e.host+":"+strconv.Itoa(e.port)+" and found 1 message")
	for _, step := range []string{"Connect", "TLS", "Login", "CAPA", "STAT"} {
		assert.Contains(t, body, `<tr class="step-ok" data-step="`+step+`">`, step)
	}
	assert.Contains(t, body, `<dd class="cert-subject">`)
	assert.Contains(t, body, `<dd class="cert-issuer">`)
	assert.Regexp(t, `<code class="cert-pin">[0-9a-f]{64}</code>`, body)
	assert.Regexp(t, `<dd class="cert-expires">\d{4}-\d\d-\d\d [0-9:]+ UTC \(in (less than a day|\d+ days?)\)</dd>`, body)
	assert.Contains(t, body, `value="changed but not saved"`, "the form keeps its values")
	assert.NotContains(t, body, popPass)
	assert.NotContains(t, e.log.String(), popPass)
	got, err := e.store.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, stored, got, "nothing saved")
	assert.NotContains(t, verbsOf(srv), "RETR")
	assert.NotContains(t, verbsOf(srv), "DELE")
	assert.Len(t, srv.Mailbox(popUser), 1)

	// A password typed in the form is the one tried, and not shown.
	form.Set("Auth.Secret", "typed-Wrong-9c1d")
	w = e.post("/edit/a/test", form)
	require.Equal(t, http.StatusOK, w.Code)
	body = w.Body.String()
	assert.Contains(t, body, "FAILED to log in")
	assert.Contains(t, body, `<tr class="step-failed" data-step="Login">`)
	assert.Contains(t, body, `<tr class="step-ok" data-step="TLS">`)
	assert.Contains(t, body, `<tr class="step-not-tried" data-step="STAT">`)
	assert.NotContains(t, body, "typed-Wrong-9c1d")
	assert.NotContains(t, body, popPass)
	assert.Contains(t, body, "not saved: enter it again", "the typed password must be typed again to save it")

	// A new account: the typed password, nothing created.
	nf := formOf(e.account("", popDomain))
	w = e.post("/new/test", nf)
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "OK: logged in")
	assert.NotContains(t, w.Body.String(), popPass)
	accs, err := e.store.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	assert.Len(t, accs, 1, "nothing created")

	// An untrusted certificate is shown, marked, with a sentence.
	nf.Set("TLS.RootCAs", "")
	body = e.post("/new/test", nf).Body.String()
	assert.Contains(t, body, `<tr class="step-failed" data-step="TLS">`)
	assert.Contains(t, body, "certificate NOT trusted")
	assert.Regexp(t, `<code class="cert-pin">[0-9a-f]{64}</code>`, body)
	assert.Contains(t, body, "is not trusted for this host")
}

// TestProbeErrors: the form's errors are shown as Save shows them and
// nothing is tried; an unreachable server is a sentence with the chain
// behind a disclosure; without a Prober the buttons are absent and the
// routes answer 501; the routes need the anti-CSRF token.
func TestProbeErrors(t *testing.T) {
	srv := &poptest.Server{}
	e := probeEnv(t, srv, "")
	stored := e.put(e.account("a", popDomain))
	assert.Contains(t, e.get("/edit/a").Body.String(), `formaction="/edit/a/test"`)
	assert.Contains(t, e.get("/new").Body.String(), `formaction="/new/preview"`)

	for _, route := range []string{"/edit/a/test", "/edit/a/preview", "/new/test"} {
		form := formOf(stored)
		form.Set("Port", "70000")
		form.Set("Timeouts.Dial", "soon")
		before := len(srv.Transcript())
		w := e.post(route, form)
		require.Equal(t, http.StatusUnprocessableEntity, w.Code, route)
		errs := pageFieldErrors(w.Body.String())
		assert.Contains(t, strings.Join(errs["Timeouts.Dial"], " "), "is not a duration", route)
		assert.Contains(t, w.Body.String(), "Nothing was tried: correct the fields marked below.")
		assert.Equal(t, before, len(srv.Transcript()), "nothing tried")
		assert.NotContains(t, w.Body.String(), popPass)

		form.Set("Timeouts.Dial", "")
		w = e.post(route, form)
		require.Equal(t, http.StatusUnprocessableEntity, w.Code, route)
		assert.Contains(t, strings.Join(pageFieldErrors(w.Body.String())["Port"], " "), "out of range", "the store's validation, as Save shows it")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	form := formOf(stored)
	form.Set("Port", strconv.Itoa(closed))
	body := e.post("/edit/a/test", form).Body.String()
	assert.Contains(t, body, "FAILED to connect to 127.0.0.1:"+strconv.Itoa(closed))
	assert.Contains(t, body, `<p id="test-problem">The server refused the connection: check the host, the port and the security setting.</p>`)
	assert.Contains(t, body, "<details><summary>Technical details</summary><code>")
	assert.Contains(t, body, `<tr class="step-failed" data-step="Connect">`)
	body = e.post("/edit/a/preview", form).Body.String()
	assert.Contains(t, body, `<p class="failed" id="preview-problem">The server refused the connection`)

	r := httptestForm(t, "/edit/a/test", formOf(stored))
	assert.Equal(t, http.StatusForbidden, e.do(r).Code, "no token")

	plain := newEnv(t, nil, nil)
	plain.put(plain.account("a", popDomain))
	assert.NotContains(t, plain.get("/edit/a").Body.String(), "btn-test")
	assert.Equal(t, http.StatusNotImplemented, plain.post("/edit/a/test", formOf(stored)).Code)
	assert.Equal(t, http.StatusNotFound, e.post("/edit/nope/test", formOf(stored)).Code)
}

// TestProbePreview: Preview shows per message its subject, sender,
// recipients and what would become of it and why; nothing is deleted,
// delivered or saved.
func TestProbePreview(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <m1@x>", "From: =?UTF-8?Q?J=C3=B6rg?= <j@remote.test>", "To: alice@example.com, bob@example.com", "Subject: quarterly report")},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <m2@x>", "From: x@remote.test", "To: nobody@example.com", "Subject: "+hostile)},
	)
	e := probeEnv(t, srv, "")
	stored := e.put(e.account("a", popDomain))
	defer checkLeaks(t)()
	form := formOf(stored)
	form.Del("Auth.Secret")
	w := e.post("/edit/a/preview", form)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body := w.Body.String()
	assert.Contains(t, body, `<p id="preview-summary">2 of 2 messages previewed (1 to deliver, 1 to drop); nothing was deleted or delivered.</p>`)
	assert.Contains(t, body, `<tr class="preview-deliver"><td>1</td><td>quarterly report</td><td>Jörg &lt;j@remote.test&gt;</td>`)
	assert.Contains(t, body, `<td class="would">deliver</td><td>alice@example.com, bob@example.com</td><td>2 valid recipients`)
	assert.Contains(t, body, `<td class="would">drop</td><td></td><td>no valid recipient; the account&#39;s policy deletes it<div class="muted">not: nobody@example.com (To): unknown`)
	assertEscaped(t, body)
	assert.NotContains(t, body, popPass)

	// The form's policy, not the stored one, decides.
	form.Set("Policy.NoRecipient", "keep")
	body = e.post("/edit/a/preview", form).Body.String()
	assert.Contains(t, body, `<td class="would">keep</td>`)
	got, err := e.store.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, stored, got, "nothing saved")

	assert.Len(t, srv.Mailbox(popUser), 2, "nothing deleted")
	assert.NotContains(t, verbsOf(srv), "DELE")
	assert.Zero(t, e.dlv.Calls(), "nothing delivered")
}

// httptestForm is a form POST without a token.
func httptestForm(t *testing.T, path string, form url.Values) *http.Request {
	r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}
