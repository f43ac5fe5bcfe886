package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

var rowIDRE = regexp.MustCompile(`<li role="option" id="row-[^"]*" aria-selected="false" data-id="([^"]*)"`)

func rowIDs(body string) []string {
	var out []string
	for _, m := range rowIDRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestListSearchAndPaging fills the store with 10,000 accounts and pages
// through them, searches by each field, and combines search and domain.
func TestListSearchAndPaging(t *testing.T) {
	e := newEnv(t, nil, nil)
	const n = 10_000
	for i := range n {
		a := e.account(fmt.Sprintf("acc%05d", i), "example.com")
		if i%2 == 1 {
			a.Domain = "example.net"
		}
		a.Description = fmt.Sprintf("Shop %d", i)
		if i == 4242 {
			a.Description = "The Needle Office"
			a.Host = "pop.needle.test"
			a.Auth.User = "haystack-user"
		}
		e.put(a)
	}

	body := e.get("/").Body.String()
	assert.Contains(t, body, "10000 accounts")
	assert.Contains(t, body, `page 1 of 200 &middot; <a href="/?page=2" rel="next">`, "paging above the list too")
	ids := rowIDs(body)
	require.Len(t, ids, PageSize)
	assert.Equal(t, "acc00000", ids[0])
	assert.Contains(t, body, `href="/?page=2" id="page-next"`)
	assert.NotContains(t, body, `id="page-prev"`)

	body = e.get("/?page=200").Body.String()
	ids = rowIDs(body)
	require.Len(t, ids, PageSize)
	assert.Equal(t, "acc09999", ids[len(ids)-1])
	assert.NotContains(t, body, `id="page-next"`)
	assert.Contains(t, body, `href="/?page=199" id="page-prev"`)
	assert.Equal(t, rowIDs(body), rowIDs(e.get("/?page=999").Body.String()), "past the end: the last page")

	for _, q := range []string{"acc04242", "needle office", "POP.NEEDLE", "haystack"} {
		body = e.get("/?q=" + url.QueryEscape(q)).Body.String()
		assert.Equal(t, []string{"acc04242"}, rowIDs(body), q)
		assert.Contains(t, body, "1 of 10000 accounts match", q)
	}
	body = e.get("/?q=shop+1234").Body.String()
	assert.Equal(t, []string{"acc01234"}, rowIDs(body), "every word must match")
	body = e.get("/?domain=example.net&q=acc0000").Body.String()
	assert.Equal(t, []string{"acc00001", "acc00003", "acc00005", "acc00007", "acc00009"}, rowIDs(body))
	assert.Contains(t, body, "5 of 10000 accounts match")
	body = e.get("/?domain=example.net").Body.String()
	assert.Contains(t, body, "5000 of 10000 accounts match")
	assert.Contains(t, body, `href="/?domain=example.net&amp;page=2" id="page-next"`)
	body = e.get("/?q=%3Cscript%3Enothing").Body.String()
	assert.Contains(t, body, "No account matches &ldquo;&lt;script&gt;nothing&rdquo;.")
	assert.Empty(t, rowIDs(body))
}

// statusChecker is a Checker with the optional StatusSource and Resumer.
type statusChecker struct {
	*multidrop.Pipeline
	mu      sync.Mutex
	status  map[string]Status
	resumed []string
}

func (c *statusChecker) Status(id string) Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[id]
}

func (c *statusChecker) Resume(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumed = append(c.resumed, id)
	st := c.status[id]
	st.Paused = ""
	c.status[id] = st
	return true
}

// TestListStatus shows the State and Next check columns from a
// StatusSource, and Resume on a paused account.
func TestListStatus(t *testing.T) {
	var sc *statusChecker
	var hold atomic.Bool
	release := make(chan struct{})
	srv := &poptest.Server{Rewrite: func(c poptest.Command, reply []byte) []byte {
		if c.Name == "STAT" && hold.Load() {
			<-release
		}
		return reply
	}}
	e := newEnv(t, srv, func(o *Options) {
		sc = &statusChecker{Pipeline: o.Checker.(*multidrop.Pipeline), status: map[string]Status{}}
		o.Checker = sc
	})
	e.put(e.account("ok", popDomain))
	e.put(e.account("paused", popDomain))
	e.put(e.account("slow", popDomain))
	off := e.account("off", popDomain)
	off.Enabled = false
	e.put(off)
	now := time.Now()
	sc.status["ok"] = Status{Next: now.Add(5*time.Minute + 10*time.Second)}
	sc.status["paused"] = Status{Paused: "the server refused the password"}
	sc.status["slow"] = Status{Next: now.Add(2 * time.Hour), Backoff: "3 failures in a row"}

	body := e.get("/").Body.String()
	row := func(id string) string {
		i := strings.Index(body, `data-id="`+id+`"`)
		require.Positive(t, i, id)
		j := strings.Index(body[i:], "</li>")
		return body[i : i+j]
	}
	assert.Contains(t, row("ok"), `<span class="c-state state-enabled">enabled</span>`)
	assert.Regexp(t, `<time datetime="[^"]+" title="[^"]+ UTC">in 5 minutes</time>`, row("ok"))
	assert.Contains(t, row("paused"), `paused<span class="reason">: the server refused the password</span>`)
	assert.Contains(t, row("paused"), `data-resume="yes"`)
	assert.NotContains(t, row("ok"), `data-resume`)
	assert.Contains(t, row("slow"), `backing off<span class="reason">: 3 failures in a row</span>`)
	assert.Contains(t, row("slow"), ">in 2 hours</time>")
	assert.Contains(t, row("off"), "disabled")
	assert.Contains(t, body, `id="btn-resume"`)

	w := e.post("/resume", url.Values{"id": {"paused"}, "back": {"?domain=example.com"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/?domain=example.com", w.Header().Get("Location"))
	assert.Equal(t, []string{"paused"}, sc.resumed)
	assert.Contains(t, e.get("/").Body.String(), `data-state="enabled" class="acc-row">`)

	// While a check runs the row says so and the page reloads itself.
	hold.Store(true)
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"ok"}}).Code)
	body = e.get("/").Body.String()
	assert.Contains(t, body, `<span class="checking">checking&hellip;</span>`)
	assert.Contains(t, body, `<meta http-equiv="refresh" content="2">`)
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"ok"}}).Code, "a second Check Now while one runs")
	hold.Store(false)
	close(release)
	e.h.bg.wg.Wait()
	body = e.get("/").Body.String()
	assert.NotContains(t, body, "checking&hellip;")
	assert.Contains(t, body, `<span class="ok">0 deliveries, 0 kept, 0 dropped</span>`)
	assert.Regexp(t, `<time datetime="[^"]+" title="[^"]+ UTC">just now</time>`, body)

	// A disabled account cannot be checked by the pipeline: the row says
	// why, as a sentence.
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"off"}}).Code)
	e.h.bg.wg.Wait()
	body = e.get("/").Body.String()
	assert.Contains(t, body, "The account is disabled: enable it to check it.")
	assert.Contains(t, body, multidrop.ErrAccountDisabled.Error())
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"}, {-3 * time.Second, "now"}, {-45 * time.Second, "in 45 seconds"},
		{80 * time.Second, "1 minute ago"}, {59 * time.Minute, "59 minutes ago"},
		{3 * time.Hour, "3 hours ago"}, {-30 * time.Hour, "in 30 hours"}, {72 * time.Hour, "3 days ago"},
	} {
		assert.Equal(t, tc.want, ago(now, now.Add(-tc.d)), tc.d)
	}
}

func TestSentence(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", multidrop.ErrAccountBusy), "being checked already"},
		{fmt.Errorf("x: %w", account.ErrNotFound), "no longer exists"},
		{fmt.Errorf("pop: dial 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"), "refused the connection"},
		{fmt.Errorf("pop: tls: x509: certificate signed by unknown authority"), "certificate could not be verified"},
		{fmt.Errorf("x: %w", &pop.Error{Command: "PASS", Code: "AUTH", Text: "invalid"}), "user name or password"},
		{fmt.Errorf("x: %w", &pop.Error{Command: "PASS", Code: "IN-USE", Text: "locked"}), "in use by another client"},
		{fmt.Errorf("pop: read: i/o timeout"), "did not answer in time"},
		{fmt.Errorf("pop: RETR: %w", os.ErrDeadlineExceeded), "did not answer in time"},
		{fmt.Errorf("resolve: no certificate here, no timeouts either"), "The check failed."},
		{fmt.Errorf("multidrop: account a: %w", pop.ErrLoginDelay), "wait before the next login"},
		{fmt.Errorf("something odd"), "The check failed."},
	} {
		assert.Contains(t, sentence(tc.err), tc.want, tc.err.Error())
	}
	assert.Empty(t, sentence(nil))
}

// onceChecker checks disabled accounts through a second Pipeline over a
// view of the store in which they are enabled.
type onceChecker struct {
	*multidrop.Pipeline
	once *multidrop.Pipeline
}

func (c onceChecker) CheckOnce(ctx context.Context, id string) (*multidrop.Report, error) {
	return c.once.Check(ctx, id)
}

type enabledView struct{ account.Store }

func (v enabledView) Get(ctx context.Context, id string) (account.Account, error) {
	a, err := v.Store.Get(ctx, id)
	a.Enabled = true
	return a, err
}

// TestCheckNowDisabledOnce: with an OnceChecker, Check Now on a disabled
// account checks it once, and it stays disabled.
func TestCheckNowDisabledOnce(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Delivered-To: alice@example.com", "Message-ID: <m1@x>", "From: x@remote.test", "Subject: one")})
	var store account.MutableStore
	e := newEnv(t, srv, func(o *Options) {
		store = o.Store
		dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
		require.NoError(t, err)
		once, err := multidrop.New(&multidrop.Options{
			Store: enabledView{store}, Journal: account.NewMemoryJournal(), Resolver: resolve.New(dir, nil),
			Deliverer: &delivertest.Deliverer{}, Spool: multidrop.SpoolOptions{Dir: t.TempDir()},
		})
		require.NoError(t, err)
		o.Checker = onceChecker{Pipeline: o.Checker.(*multidrop.Pipeline), once: once}
	})
	off := e.account("off", popDomain)
	off.Enabled = false
	e.put(off)
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"off"}}).Code)
	e.h.bg.wg.Wait()
	body := e.get("/").Body.String()
	assert.Contains(t, body, `<span class="ok">1 delivery, 0 kept, 0 dropped</span>`)
	assert.NotContains(t, body, "The account is disabled")
	assert.Contains(t, body, `<span class="c-state state-disabled">disabled</span>`)
	a, err := store.Get(t.Context(), "off")
	require.NoError(t, err)
	assert.False(t, a.Enabled, "still disabled")
}
