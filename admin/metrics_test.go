package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// sampleRE is one sample line of the text exposition format.
var sampleRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? [-+0-9.eEInfNa]+$`)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", w.Header().Get("Content-Type"))
	return w.Body.String()
}

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.Observe(multidrop.Event{Kind: multidrop.EventCheckStart, Account: "a"}) // ignored
	m.Observe(multidrop.Event{Kind: multidrop.EventCheckEnd, Account: "a", Report: &multidrop.Report{
		Account: "a", Start: start, Duration: 1500 * time.Millisecond,
		Retrieved: 3, Bytes: 4096, Delivered: 4, Kept: 1, Dropped: 1, Committed: true,
	}})
	failed := errors.New("pop: dial: refused")
	m.Observe(multidrop.Event{Kind: multidrop.EventCheckEnd, Account: "a", Err: failed, Report: &multidrop.Report{
		Account: "a", Start: start.Add(time.Hour), Duration: 20 * time.Second, Err: failed,
	}})
	m.Observe(multidrop.Event{Kind: multidrop.EventCheckEnd, Account: "we\"ird\\id\n", Report: &multidrop.Report{
		Start: start, Duration: 50 * time.Millisecond, Retrieved: 1,
	}})
	body := scrape(t, m)

	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(l, "# ") {
			assert.Regexp(t, `^# (HELP|TYPE) multidrop_[a-z_]+ `, l)
			continue
		}
		assert.Regexp(t, sampleRE, l, "not a valid sample line")
	}
	for _, want := range []string{
		`multidrop_checks_total{account="a"} 2`,
		`multidrop_check_errors_total{account="a"} 1`,
		`multidrop_messages_total{account="a"} 3`,
		`multidrop_bytes_total{account="a"} 4096`,
		`multidrop_deliveries_total{account="a"} 4`,
		`multidrop_kept_total{account="a"} 1`,
		`multidrop_dropped_total{account="a"} 1`,
		`multidrop_check_duration_seconds_bucket{account="a",le="1"} 0`,
		`multidrop_check_duration_seconds_bucket{account="a",le="2.5"} 1`,
		`multidrop_check_duration_seconds_bucket{account="a",le="10"} 1`,
		`multidrop_check_duration_seconds_bucket{account="a",le="30"} 2`,
		`multidrop_check_duration_seconds_bucket{account="a",le="+Inf"} 2`,
		`multidrop_check_duration_seconds_sum{account="a"} 21.5`,
		`multidrop_check_duration_seconds_count{account="a"} 2`,
		// the failed check does not move the last success
		`multidrop_last_success_timestamp_seconds{account="a"} 1.7673230465e+09`,
		`multidrop_messages_total{account="we\"ird\\id\n"} 1`,
		"# TYPE multidrop_check_duration_seconds histogram",
		"# TYPE multidrop_last_success_timestamp_seconds gauge",
		"# TYPE multidrop_bytes_total counter",
	} {
		assert.Contains(t, body, want+"\n")
	}
	assert.Equal(t, 1, strings.Count(body, "# TYPE multidrop_checks_total"), "one TYPE line a family")

	m.Forget("a")
	assert.NotContains(t, scrape(t, m), `account="a"`)
}

// TestMetricsFromPipeline feeds Metrics from a real Pipeline's Observer.
func TestMetricsFromPipeline(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Delivered-To: alice@example.com", "Message-ID: <m1@x>", "From: x@remote.test", "Subject: one")})
	e := newEnv(t, srv, nil)
	e.put(e.account("acc", popDomain))
	_, err := e.p.Check(t.Context(), "acc")
	require.NoError(t, err)
	body := scrape(t, e.metrics)
	assert.Contains(t, body, `multidrop_messages_total{account="acc"} 1`+"\n")
	assert.Contains(t, body, `multidrop_deliveries_total{account="acc"} 1`+"\n")
	assert.Contains(t, body, `multidrop_last_success_timestamp_seconds{account="acc"} `)
}

type failingStore struct{ account.MutableStore }

func (failingStore) Get(context.Context, string) (account.Account, error) {
	return account.Account{}, errors.New("sql: database is closed")
}

func TestHealth(t *testing.T) {
	get := func(h http.Handler) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		b, _ := io.ReadAll(w.Body)
		return w.Code, string(b)
	}
	code, body := get(Healthz())
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok\n", body)
	code, body = get(Readyz(account.NewMemoryStore(), 0))
	assert.Equal(t, 200, code)
	assert.Equal(t, "ready\n", body)
	code, body = get(Readyz(failingStore{account.NewMemoryStore()}, time.Second))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "store unreachable\n", body)
}
