package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

const (
	popUser   = "drop"
	popPass   = "pop-Secret-7f3a9c" // must never appear in a page, a response or the log
	popDomain = "example.com"
)

// syncBuffer is a log sink the handler and the pipeline write to
// concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a Handler over a memory store and a real Pipeline that collects
// from a poptest server into a recording deliverer.
type env struct {
	t     *testing.T
	srv   *poptest.Server
	store *account.MemoryStore
	dlv   *delivertest.Deliverer
	p     *multidrop.Pipeline
	h     *Handler
	log   *syncBuffer
	host  string
	port  int
	// metrics counts the pipeline's checks (its Observer).
	metrics *Metrics
	history *account.MemoryHistory
}

func newEnv(t *testing.T, srv *poptest.Server, edit func(*Options)) *env {
	t.Helper()
	if srv == nil {
		srv = &poptest.Server{}
	}
	if len(srv.Mailbox(popUser)) == 0 {
		srv.AddUser(popUser, popPass)
	}
	srv.ImplicitTLS = true
	srv.Start(t)
	i := strings.LastIndexByte(srv.Addr(), ':')
	port, err := strconv.Atoi(srv.Addr()[i+1:])
	require.NoError(t, err)

	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{
		{Address: "alice@example.com"}, {Address: "bob@example.com"}, {Address: "carol@example.net"},
	}})
	require.NoError(t, err)
	e := &env{t: t, srv: srv, store: account.NewMemoryStore(), dlv: &delivertest.Deliverer{},
		log: &syncBuffer{}, host: srv.Addr()[:i], port: port, metrics: NewMetrics(),
		history: account.NewMemoryHistory()}
	record := HistoryRecorder(e.history, nil)
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.p, err = multidrop.New(&multidrop.Options{
		Store:     e.store,
		Journal:   account.NewMemoryJournal(),
		Resolver:  resolve.New(dir, nil),
		Deliverer: e.dlv,
		Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 5 * time.Second, Data: 5 * time.Second}}},
		Spool:     multidrop.SpoolOptions{Dir: t.TempDir()},
		LocalHost: "mx.local.test",
		Logger:    logger,
		Observer:  func(ev multidrop.Event) { e.metrics.Observe(ev); record(ev) },
	})
	require.NoError(t, err)
	o := &Options{Store: e.store, Checker: e.p, Logger: logger, History: e.history}
	if edit != nil {
		edit(o)
	}
	e.h, err = New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.h.Close() })
	return e
}

// account returns a valid account on the test server.
func (e *env) account(id, domain string) account.Account {
	return account.Account{
		ID: id, Enabled: true, Description: "mailbox " + id,
		Host: e.host, Port: e.port, Domain: domain, Security: account.SecurityTLS,
		TLS:  account.TLS{RootCAs: string(e.srv.CAPEM())},
		Auth: account.Auth{User: popUser, Secret: popPass, Mechanism: account.MechanismUser},
	}
}

func (e *env) put(a account.Account) account.Account {
	e.t.Helper()
	a, err := e.store.Put(e.t.Context(), a)
	require.NoError(e.t, err)
	return a
}

// token returns a fresh anti-CSRF token from the API.
func (e *env) token() string {
	e.t.Helper()
	var tok CSRFToken
	e.getJSON("/api/csrf", http.StatusOK, &tok)
	require.NotEmpty(e.t, tok.Token)
	return tok.Token
}

// do serves one request and returns the recorded response.
func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) get(path string) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequestWithContext(e.t.Context(), http.MethodGet, path, nil))
}

func (e *env) getJSON(path string, code int, v any) {
	e.t.Helper()
	w := e.get(path)
	require.Equal(e.t, code, w.Code, w.Body.String())
	if v != nil {
		require.NoError(e.t, json.Unmarshal(w.Body.Bytes(), v), w.Body.String())
	}
}

// api sends a JSON request with a valid token.
func (e *env) api(method, path string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequestWithContext(e.t.Context(), method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set(CSRFHeader, e.token())
	return e.do(r)
}

// post submits a form with a valid token.
func (e *env) post(path string, form url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set(CSRFField, e.token())
	r := httptest.NewRequestWithContext(e.t.Context(), http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return e.do(r)
}

// formOf returns the Edit POP Account form values of a.
func formOf(a account.Account) url.Values {
	f := url.Values{}
	for _, g := range groups {
		for _, fl := range g.Fields {
			if v := fl.get(&a); v != "" {
				f.Set(fl.Name, v)
			}
		}
	}
	if a.ID != "" {
		f.Set("ID", a.ID)
	}
	return f
}

var fieldErrorRE = regexp.MustCompile(`<span class="field-error" data-field="([^"]+)">([^<]*)</span>`)

// fieldErrors returns the errors shown next to each field of a page.
func pageFieldErrors(body string) map[string][]string {
	out := map[string][]string{}
	for _, m := range fieldErrorRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// msg builds a message from header lines and a body.
func msg(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body + "\r\n")
}
