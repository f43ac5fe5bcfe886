package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// DurationBuckets are the upper bounds, in seconds, of the check-duration
// histogram's buckets.
var DurationBuckets = []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics counts what the checks did, per account, and serves the counts
// in the Prometheus text exposition format (version 0.0.4). Feed it the
// Pipeline's events with [Metrics.Observe] (as, or from,
// [multidrop.Options].Observer); serve it on the admin listener. The zero
// value is not usable: create it with [NewMetrics]. It is safe for
// concurrent use.
//
// The series, each labelled account="ID":
//
//	multidrop_checks_total                   checks that ran
//	multidrop_check_errors_total             checks that ended with an error
//	multidrop_messages_total                 messages downloaded
//	multidrop_bytes_total                    octets downloaded
//	multidrop_deliveries_total               (message, recipient) deliveries
//	multidrop_kept_total                     downloaded messages left on the server
//	multidrop_dropped_total                  messages deleted without a delivery
//	multidrop_check_duration_seconds         histogram of check durations
//	multidrop_last_success_timestamp_seconds end of the last check without error
type Metrics struct {
	mu       sync.Mutex
	accounts map[string]*accountMetrics
}

type accountMetrics struct {
	checks, errors, messages, bytes, deliveries, kept, dropped uint64
	buckets                                                    []uint64 // cumulative counts are computed when written
	sum                                                        float64
	lastSuccess                                                time.Time
}

// NewMetrics returns empty Metrics.
func NewMetrics() *Metrics { return &Metrics{accounts: map[string]*accountMetrics{}} }

// Observe counts a finished check (EventCheckEnd); other events are
// ignored.
func (m *Metrics) Observe(e multidrop.Event) {
	if e.Kind != multidrop.EventCheckEnd || e.Report == nil {
		return
	}
	r := e.Report
	id := e.Account
	if id == "" {
		id = r.Account
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.accounts[id]
	if a == nil {
		a = &accountMetrics{buckets: make([]uint64, len(DurationBuckets)+1)}
		m.accounts[id] = a
	}
	a.checks++
	a.messages += uint64(max(r.Retrieved, 0))
	a.bytes += uint64(max(r.Bytes, 0))
	a.deliveries += uint64(max(r.Delivered, 0))
	a.kept += uint64(max(r.Kept, 0))
	a.dropped += uint64(max(r.Dropped, 0))
	sec := r.Duration.Seconds()
	a.sum += sec
	i, _ := slices.BinarySearch(DurationBuckets, sec)
	a.buckets[i]++
	if r.Err != nil || e.Err != nil {
		a.errors++
	} else {
		a.lastSuccess = r.Start.Add(r.Duration)
	}
}

// Forget removes an account's series (after it was deleted).
func (m *Metrics) Forget(id string) {
	m.mu.Lock()
	delete(m.accounts, id)
	m.mu.Unlock()
}

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	m.WriteTo(bw)
	_ = bw.Flush()
}

// WriteTo writes the metrics in the Prometheus text format to w.
func (m *Metrics) WriteTo(w *bufio.Writer) {
	m.mu.Lock()
	ids := make([]string, 0, len(m.accounts))
	snap := make(map[string]accountMetrics, len(m.accounts))
	for id, a := range m.accounts {
		ids = append(ids, id)
		c := *a
		c.buckets = slices.Clone(a.buckets)
		snap[id] = c
	}
	m.mu.Unlock()
	slices.Sort(ids)

	counter := func(name, help string, v func(*accountMetrics) uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		for _, id := range ids {
			a := snap[id]
			fmt.Fprintf(w, "%s{account=\"%s\"} %d\n", name, labelValue(id), v(&a))
		}
	}
	counter("multidrop_checks_total", "Checks that ran.", func(a *accountMetrics) uint64 { return a.checks })
	counter("multidrop_check_errors_total", "Checks that ended with an error.", func(a *accountMetrics) uint64 { return a.errors })
	counter("multidrop_messages_total", "Messages downloaded.", func(a *accountMetrics) uint64 { return a.messages })
	counter("multidrop_bytes_total", "Octets downloaded.", func(a *accountMetrics) uint64 { return a.bytes })
	counter("multidrop_deliveries_total", "Deliveries made, one per message and recipient.", func(a *accountMetrics) uint64 { return a.deliveries })
	counter("multidrop_kept_total", "Downloaded messages left on the server.", func(a *accountMetrics) uint64 { return a.kept })
	counter("multidrop_dropped_total", "Messages deleted without a delivery.", func(a *accountMetrics) uint64 { return a.dropped })

	const hist = "multidrop_check_duration_seconds"
	fmt.Fprintf(w, "# HELP %s Duration of the checks.\n# TYPE %s histogram\n", hist, hist)
	for _, id := range ids {
		a := snap[id]
		l := labelValue(id)
		var cum uint64
		for i, ub := range DurationBuckets {
			cum += a.buckets[i]
			fmt.Fprintf(w, "%s_bucket{account=\"%s\",le=\"%s\"} %d\n", hist, l, formatFloat(ub), cum)
		}
		cum += a.buckets[len(DurationBuckets)]
		fmt.Fprintf(w, "%s_bucket{account=\"%s\",le=\"+Inf\"} %d\n", hist, l, cum)
		fmt.Fprintf(w, "%s_sum{account=\"%s\"} %s\n", hist, l, formatFloat(a.sum))
		fmt.Fprintf(w, "%s_count{account=\"%s\"} %d\n", hist, l, cum)
	}

	const last = "multidrop_last_success_timestamp_seconds"
	fmt.Fprintf(w, "# HELP %s When the last check without error ended (Unix time).\n# TYPE %s gauge\n", last, last)
	for _, id := range ids {
		a := snap[id]
		if a.lastSuccess.IsZero() {
			continue
		}
		fmt.Fprintf(w, "%s{account=\"%s\"} %s\n", last, labelValue(id),
			formatFloat(float64(a.lastSuccess.UnixMilli())/1000))
	}
}

// labelValue escapes a label value as the text format requires: backslash,
// double quote and line feed.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Healthz answers 200 "ok" while the process serves HTTP: a liveness
// probe.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// readyProbeID is the account ID the readiness probe asks the store for;
// any answer but a store failure (found, or account.ErrNotFound) means the
// store is reachable.
const readyProbeID = "readyz-probe"

// Readyz answers 200 "ready" when the store answers a lookup within
// timeout (0 means 5 seconds), and 503 with the reason otherwise: a
// readiness probe.
func Readyz(s account.Store, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := s.Get(ctx, readyProbeID); err != nil && !errors.Is(err, account.ErrNotFound) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("store unreachable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
