package multidrop_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
)

// delegatingFetcher is what an embedder writes for metrics: a Fetcher that
// only forwards Fetch. It must behave exactly as the Fetcher it wraps.
type delegatingFetcher struct {
	inner pop.Fetcher
	calls atomic.Int32
}

func (f *delegatingFetcher) Fetch(ctx context.Context, a account.Account, h pop.Handler) error {
	f.calls.Add(1)
	return f.inner.Fetch(ctx, a, h)
}

// A Fetcher that delegates to the Downloader gives the same deliveries,
// the same DELE set and the same Report as the Downloader itself, under
// the deletion guard and around it, with one slot and with several.
func TestDelegatingFetcherBehavesTheSame(t *testing.T) {
	type outcome struct {
		report    *multidrop.Report
		dele      []string
		delivered map[string]int
	}
	run := func(t *testing.T, wrapped bool, conc, min int, share float64, mixed bool) outcome {
		srv := &poptest.Server{}
		var msgs []poptest.Message
		for i := range 10 {
			to := "someone@example.com"
			if mixed && i%2 == 1 {
				to = "alice@example.com"
			}
			msgs = append(msgs, poptest.Message{UID: fmt.Sprint("n", i), Data: msg("x", fmt.Sprintf("Message-ID: <n%d@x>", i), "To: "+to)})
		}
		srv.AddUser(popUser, popPass, msgs...)
		var df *delegatingFetcher
		e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
			o.Guard.Min, o.Guard.Share, o.DeliveryConcurrency = min, share, conc
			if wrapped {
				df = &delegatingFetcher{inner: o.Fetcher}
				o.Fetcher = df
			}
		})
		r := e.check()
		if wrapped {
			require.Equal(t, int32(1), df.calls.Load())
		}
		var dele []string
		for _, c := range srv.Transcript() {
			if c.Name == "DELE" {
				dele = append(dele, c.Line)
			}
		}
		slices.Sort(dele)
		r.Start, r.Duration = r.Start.UTC(), 0
		return outcome{report: r, dele: dele, delivered: e.delivered()}
	}
	for _, tc := range []struct {
		name  string
		min   int
		share float64
		mixed bool
	}{
		{name: "guard trips"},
		{name: "guard trips, mixed", mixed: true},
		{name: "guard off", share: 1.5},
		{name: "guard not reached", min: 11, mixed: true},
	} {
		for _, conc := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/concurrency %d", tc.name, conc), func(t *testing.T) {
				plain := run(t, false, conc, tc.min, tc.share, tc.mixed)
				wrapped := run(t, true, conc, tc.min, tc.share, tc.mixed)
				assert.Equal(t, plain.delivered, wrapped.delivered, "deliveries")
				assert.Equal(t, plain.dele, wrapped.dele, "DELE set")
				pr, wr := *plain.report, *wrapped.report
				assert.Equal(t, fmt.Sprint(pr.Err), fmt.Sprint(wr.Err))
				pr.Err, wr.Err = nil, nil
				assert.Equal(t, pr, wr, "report")
			})
		}
	}
}
