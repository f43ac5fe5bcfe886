package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.put(e.account("a", "example.com"))
	other := newEnv(t, nil, nil)
	foreign := other.token()
	stale := e.h.csrf.token(time.Now().Add(-CSRFTokenLifetime - time.Minute))
	future := e.h.csrf.token(time.Now().Add(time.Hour))
	good := e.token()
	tampered := good[:len(good)-2] + "AA"

	type req struct {
		form    bool // an HTML form, else JSON
		token   string
		headers map[string]string
	}
	tests := []struct {
		name string
		req  req
		code int
	}{
		{"form without token", req{form: true}, http.StatusForbidden},
		{"form with another handler's token", req{form: true, token: foreign}, http.StatusForbidden},
		{"form with expired token", req{form: true, token: stale}, http.StatusForbidden},
		{"form with future token", req{form: true, token: future}, http.StatusForbidden},
		{"form with tampered token", req{form: true, token: tampered}, http.StatusForbidden},
		{"form with garbage", req{form: true, token: "not-a-token"}, http.StatusForbidden},
		{"form cross-site with token", req{form: true, token: good, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"form other origin with token", req{form: true, token: good, headers: map[string]string{"Origin": "https://evil.test"}}, http.StatusForbidden},
		{"form same-origin with token", req{form: true, token: good, headers: map[string]string{"Sec-Fetch-Site": "same-origin"}}, http.StatusSeeOther},
		{"json without token", req{}, http.StatusForbidden},
		{"json with another handler's token", req{token: foreign}, http.StatusForbidden},
		{"json token in form field only", req{token: "form:" + good}, http.StatusForbidden},
		{"json cross-site with token", req{token: good, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden},
		{"json same-site with token", req{token: good, headers: map[string]string{"Sec-Fetch-Site": "same-site"}}, http.StatusForbidden},
		{"json with token (no browser headers)", req{token: good}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *http.Request
			if tt.req.form {
				f := url.Values{"id": {"a"}}
				if tt.req.token != "" {
					f.Set(CSRFField, tt.req.token)
				}
				r = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/check", strings.NewReader(f.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				body := `{"ids":["a"]}`
				r = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/accounts/check", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				if tok, ok := strings.CutPrefix(tt.req.token, "form:"); ok {
					r.URL.RawQuery = CSRFField + "=" + tok
				} else if tt.req.token != "" {
					r.Header.Set(CSRFHeader, tt.req.token)
				}
			}
			for k, v := range tt.req.headers {
				r.Header.Set(k, v)
			}
			w := e.do(r)
			assert.Equal(t, tt.code, w.Code, w.Body.String())
			if tt.code == http.StatusForbidden && !tt.req.form {
				assert.Contains(t, w.Header().Get("Content-Type"), "application/json")
			}
		})
	}
	// Every state-changing route refuses a request without a token, and
	// nothing changes.
	for _, rt := range []struct{ method, path string }{
		{http.MethodPost, "/new"}, {http.MethodPost, "/edit/a"}, {http.MethodPost, "/delete"}, {http.MethodPost, "/check"},
		{http.MethodPost, "/api/accounts"}, {http.MethodPut, "/api/accounts/a"}, {http.MethodDelete, "/api/accounts/a"},
		{http.MethodPost, "/api/accounts/delete"}, {http.MethodPost, "/api/accounts/check"}, {http.MethodPost, "/api/accounts/a/check"},
	} {
		f := url.Values{"id": {"a"}, "confirmed": {"yes"}}
		r := httptest.NewRequestWithContext(t.Context(), rt.method, rt.path, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		assert.Equal(t, http.StatusForbidden, e.do(r).Code, "%s %s", rt.method, rt.path)
	}
	before := e.p.LastReport("a")
	for _, rt := range []struct{ method, path string }{
		{http.MethodPost, "/check"}, {http.MethodPost, "/api/accounts/check"}, {http.MethodPost, "/api/accounts/a/check"},
	} {
		r := httptest.NewRequestWithContext(t.Context(), rt.method, rt.path, strings.NewReader("id=a"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(CSRFHeader, foreign)
		assert.Equal(t, http.StatusForbidden, e.do(r).Code)
	}
	assert.Same(t, before, e.p.LastReport("a"), "no check ran")
	_, err := e.store.Get(t.Context(), "a")
	assert.NoError(t, err, "still there")
}

func TestTrustedOrigin(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.TrustedOrigins = []string{"https://panel.example.com"} })
	e.put(e.account("a", "example.com"))
	for origin, code := range map[string]int{"https://panel.example.com": http.StatusNoContent, "https://evil.test": http.StatusForbidden} {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodDelete, "/api/accounts/a", nil)
		r.Header.Set(CSRFHeader, e.token())
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		assert.Equal(t, code, e.do(r).Code, origin)
	}
}

func TestListPage(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.put(e.account("a1", "example.com"))
	b := e.account("b1", "example.net")
	b.ExtraDomains = []string{"example.org"}
	b.Enabled = false
	b.Port = 0
	e.put(b)

	w := e.get("/")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	for _, want := range []string{
		"<title>Remote POP Accounts</title>", `data-id="a1"`, `data-id="b1"`, "mailbox a1",
		`<span>Account</span><span>Host</span><span>Domain</span><span>Last check</span><span>Result</span><span>Next check</span><span>State</span>`,
		`role="listbox" aria-multiselectable="true"`, `role="option"`,
		`id="btn-new"`, `id="btn-edit"`, `id="btn-delete"`, `id="btn-check"`, "For Domain",
		`<option value="example.org">`, "example.net, example.org", `<span class="muted">never</span>`,
		`class="acc-row disabled"`, `<span class="c-state state-disabled">disabled</span>`,
		`<span class="c-state state-enabled">enabled</span>`, `<dialog id="delete-dialog"`, "2 accounts",
		`name="csrf" value="`,
	} {
		assert.Contains(t, body, want)
	}
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self'")
	assert.NotContains(t, body, popPass)

	// For Domain filters, by extra domain too.
	body = e.get("/?domain=example.org").Body.String()
	assert.Contains(t, body, `data-id="b1"`)
	assert.NotContains(t, body, `data-id="a1"`)
	assert.Contains(t, body, `<option value="example.org" selected>`)
	body = e.get("/?domain=nowhere.test").Body.String()
	assert.Contains(t, body, "No accounts for nowhere.test")
	assert.NotContains(t, body, "<table", "no table pretends to be a list")

	// Assets are embedded.
	js := e.get("/static/admin.js")
	require.Equal(t, http.StatusOK, js.Code)
	assert.Contains(t, js.Body.String(), "shiftKey")
	assert.Equal(t, http.StatusOK, e.get("/static/admin.css").Code)
	assert.Equal(t, http.StatusNotFound, e.get("/edit/nope").Code)
	assert.Equal(t, http.StatusNotFound, e.get("/nothing").Code)
}

func TestNewAndDeleteOnPage(t *testing.T) {
	e := newEnv(t, nil, nil)
	page := e.get("/new?domain=example.net").Body.String()
	assert.Contains(t, page, "New POP Account")
	for _, g := range groups {
		if g.Basic {
			assert.Contains(t, page, `<fieldset id="basic"><legend>`+g.Title+"</legend>")
		} else {
			assert.Contains(t, page, `<details class="group" id="group-`+strings.ToLower(strings.ReplaceAll(g.Title, " ", "-"))+`"><summary>`+g.Title+"</summary>", "advanced groups are folded")
		}
		for _, f := range g.Fields {
			assert.Contains(t, page, `name="`+f.Name+`"`, "every field is on the page")
		}
	}
	assert.Contains(t, page, `value="example.net"`)
	// Save comes before the first field; defaults are shown.
	assert.Less(t, strings.Index(page, `id="btn-save"`), strings.Index(page, `name="Enabled"`))
	assert.Contains(t, page, `<option value="" selected>Default (Delete it)</option>`)
	assert.Contains(t, page, `<option value="cram-md5">CRAM-MD5</option>`)
	assert.Contains(t, page, `placeholder="30s"`)
	assert.Contains(t, page, `Default: 100.`)

	form := formOf(e.account("", "example.net"))
	form.Set("Resolving.Aliases", "sales: alice, bob\ninfo: carol")
	form.Set("Resolving.Rules", "equals deny spam@example.net\nregexp deliver ^team-.* alice bob")
	form.Set("Timeouts.Dial", "15s")
	form.Set("Timeouts.MinRate", "512")
	form.Set("Timeouts.Session", "1h30m")
	form.Set("ExtraDomains", "example.org\n\n")
	w := e.post("/new", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	accs, err := e.store.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	require.Len(t, accs, 1)
	a := accs[0]
	assert.Equal(t, map[string][]string{"sales": {"alice", "bob"}, "info": {"carol"}}, a.Resolving.Aliases)
	assert.Equal(t, []account.Rule{
		{Match: "equals", Pattern: "spam@example.net", Action: account.RuleDeny, Users: []string{}},
		{Match: "regexp", Pattern: "^team-.*", Action: account.RuleDeliver, Users: []string{"alice", "bob"}},
	}, a.Resolving.Rules)
	assert.Equal(t, 15*time.Second, a.Timeouts.Dial)
	assert.Equal(t, int64(512), a.Timeouts.MinRate, "the bounds of issue 14 are on the form")
	assert.Equal(t, 90*time.Minute, a.Timeouts.Session)
	assert.Equal(t, []string{"example.org"}, a.ExtraDomains)
	assert.Equal(t, popPass, a.Auth.Secret)

	// The edit page shows what was stored, round trip.
	page = e.get("/edit/" + a.ID).Body.String()
	assert.Contains(t, page, "info: carol\nsales: alice, bob")
	assert.Contains(t, page, "regexp deliver ^team-.* alice bob")

	// The same ID again is refused next to the ID field.
	form.Set("ID", a.ID)
	w = e.post("/new", form)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.Contains(t, pageFieldErrors(w.Body.String())["ID"], "an account with this ID exists")

	// Delete without confirmation shows the question and deletes nothing.
	e.put(e.account("second", "example.com"))
	w = e.post("/delete", url.Values{"id": {a.ID, "second"}, "domain": {"example.net"}})
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "Delete 2 account(s)?")
	accs, _ = e.store.List(t.Context(), account.Filter{})
	assert.Len(t, accs, 2)
	// Confirmed: both go, back to the filtered list.
	w = e.post("/delete", url.Values{"id": {a.ID, "second"}, "domain": {"example.net"}, "confirmed": {"yes"}})
	require.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/?domain=example.net", w.Header().Get("Location"))
	accs, _ = e.store.List(t.Context(), account.Filter{})
	assert.Empty(t, accs)
	assert.Equal(t, http.StatusBadRequest, e.post("/delete", url.Values{"confirmed": {"yes"}}).Code)
	assert.Equal(t, http.StatusNotFound, e.post("/delete", url.Values{"id": {"gone"}}).Code)
}

func TestPrefix(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Prefix = "/admin" })
	e.put(e.account("a", "example.com"))
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.h))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/admin/", nil))
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `href="/admin/static/admin.css"`)
	assert.Contains(t, body, `data-edit="/admin/edit/a"`)
	assert.Contains(t, body, `action="/admin/delete"`)

	form := formOf(e.account("", "example.com"))
	form.Set(CSRFField, e.token())
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/admin/new", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.True(t, strings.HasPrefix(w.Header().Get("Location"), "/admin/?saved="))
}

// hostile is markup a remote sender or server could put in a header or a
// reply; it must reach the page escaped.
const hostile = `<script>alert("x")</script>`

func TestCheckNowReportAndEscaping(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <m1@x>", "From: x@remote.test",
			`To: "`+hostile+`" <alice@example.com>, "`+hostile+`" <nobody@example.com>`, "Cc: <unterminated@example.com", "Subject: "+hostile)},
	)
	e := newEnv(t, srv, nil)
	a := e.account("a", "example.com")
	a.Description = hostile
	e.put(a)
	e.put(e.account("b", "example.com"))
	// b's server answers PASS with markup.
	bad := &poptest.Server{Rewrite: func(c poptest.Command, reply []byte) []byte {
		if c.Name == "PASS" {
			return []byte("-ERR [AUTH] " + hostile + "\r\n")
		}
		return reply
	}}
	bad.AddUser(popUser, popPass)
	bad.ImplicitTLS = true
	bad.Start(t)
	i := strings.LastIndexByte(bad.Addr(), ':')
	ba := e.account("b", "example.com")
	ba.Port = mustAtoi(t, bad.Addr()[i+1:])
	ba.TLS.RootCAs = string(bad.CAPEM())
	e.put(ba)

	w := e.post("/check", url.Values{"id": {"a", "b"}, "back": {"?q=x"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/?q=x", w.Header().Get("Location"))
	e.h.bg.wg.Wait()

	// The list shows the outcome of each; the error as a sentence with the
	// chain behind a disclosure.
	body := e.get("/").Body.String()
	assert.Contains(t, body, `<span class="ok">1 delivery, 0 kept, 0 dropped</span>`)
	assert.Contains(t, body, "The server refused the user name or password.")
	assert.Contains(t, body, `<details data-id="b"><summary><b>b</b>: The server refused the user name or password.</summary><code>`)
	assert.NotContains(t, body, `http-equiv="refresh"`, "nothing is running")
	assertEscaped(t, body)
	w = e.get("/report/a")
	require.Equal(t, http.StatusOK, w.Code)
	body = w.Body.String()
	for _, want := range []string{"Recipients: alice@example.com", "nobody@example.com (To): unknown",
		"alice@example.com: delivered", "<summary>Explanation</summary>", "Message-ID: <code>&lt;m1@x&gt;</code>", "<p>From: x@remote.test</p>", "<p>Subject: &lt;script&gt;", "Committed</th><td>yes",
		`<span class="outcome">delivered</span> (delete)`, "Header warnings:", "<li>Cc[1]: "} {
		assert.Contains(t, body, want)
	}
	assertEscaped(t, body)
	body = e.get("/report/b").Body.String()
	assert.Contains(t, body, "&lt;script&gt;")
	assertEscaped(t, body)
	assert.Contains(t, e.get("/edit/a").Body.String(), "&lt;script&gt;")
	assert.Equal(t, http.StatusNotFound, e.get("/report/nope").Code)

	// JSON escapes markup as well (encoding/json writes \u003c).
	w = e.get("/api/accounts/b/report")
	assert.NotContains(t, w.Body.String(), "<script>")
	assert.Equal(t, http.StatusBadRequest, e.post("/check", url.Values{}).Code)
	e.h.bg.wg.Wait()
	assert.Equal(t, 2, strings.Count(e.log.String(), `msg="admin: checked"`)+strings.Count(e.log.String(), `msg="admin: check refused"`),
		"one check each: the GETs after the redirect checked nothing")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range s {
		require.True(t, c >= '0' && c <= '9', s)
		n = n*10 + int(c-'0')
	}
	return n
}

func assertEscaped(t *testing.T, body string) {
	t.Helper()
	assert.NotContains(t, body, "<script>alert")
	assert.NotContains(t, body, `<script src="x`)
}

// TestSecretsNeverShown creates an account with a password and a client
// key, visits every page and API route and reads the log: neither secret
// appears anywhere.
func TestSecretsNeverShown(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("hi", "To: alice@example.com")})
	e := newEnv(t, srv, nil)
	cert, key := clientPair(t)
	a := e.account("a", "example.com")
	a.TLS.ClientCert, a.TLS.ClientKey = cert, key
	form := formOf(a)
	require.Equal(t, http.StatusSeeOther, e.post("/new", form).Code)
	stored, err := e.store.Get(t.Context(), "a")
	require.NoError(t, err)
	require.Equal(t, key, stored.TLS.ClientKey)
	keyLine := strings.Split(key, "\n")[1] // a line of the key's base64

	// An edit that changes nothing else keeps both secrets.
	form.Del("Auth.Secret")
	form.Del("TLS.ClientKey")
	require.Equal(t, http.StatusSeeOther, e.post("/edit/a", form).Code)
	stored, _ = e.store.Get(t.Context(), "a")
	assert.Equal(t, key, stored.TLS.ClientKey)
	assert.Equal(t, popPass, stored.Auth.Secret)

	var bodies []string
	for _, p := range []string{"/", "/edit/a", "/new", "/api/accounts", "/api/accounts/a"} {
		bodies = append(bodies, e.get(p).Body.String())
	}
	bodies = append(bodies, e.post("/check", url.Values{"id": {"a"}}).Body.String())
	bodies = append(bodies, e.api(http.MethodPost, "/api/accounts/a/check", nil).Body.String())
	bodies = append(bodies, e.get("/report/a").Body.String(), e.get("/api/accounts/a/report").Body.String())
	bodies = append(bodies, e.post("/delete", url.Values{"id": {"a"}}).Body.String())
	form.Set("Port", "x")
	bodies = append(bodies, e.post("/edit/a", form).Body.String())
	bodies = append(bodies, e.log.String())
	for i, b := range bodies {
		assert.NotContains(t, b, popPass, "body %d", i)
		assert.NotContains(t, b, keyLine, "body %d", i)
	}
	assert.Contains(t, e.log.String(), "admin: account created")
}

// clientPair returns a self-signed client certificate and its key, in PEM.
func clientPair(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}
