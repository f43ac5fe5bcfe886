package resolve

import (
	"bufio"
	"bytes"
	"context"
	"net/mail"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// BenchmarkCorpus measures one pass over the header corpus (one op = every
// case once): "baseline" only reads each header with net/mail and parses
// its To and Cc; "parse+resolve" does what the pipeline does per message.
// The target is parse+resolve ≤ 2× baseline.
func BenchmarkCorpus(b *testing.B) {
	cases := loadCorpus(b)
	baseline := func() {
		for _, c := range cases {
			msg, err := mail.ReadMessage(bytes.NewReader(c.header))
			if err != nil {
				continue
			}
			for _, f := range [...]string{"To", "Cc"} {
				if v := msg.Header.Get(f); v != "" {
					mail.ParseAddressList(v)
				}
			}
		}
	}

	m := New(testDirectory(b), nil)
	// Per-account work the pipeline does once per check, not per message.
	opts := make([]*parse.Options, len(cases))
	accts := make([]account.Account, len(cases))
	for i, c := range cases {
		a := c.account
		o, err := parse.OptionsFrom(a.Parsing, append([]string{a.Domain}, a.ExtraDomains...)...)
		require.NoError(b, err)
		o.Local = func(domain string) bool { return m.Local(a, domain) }
		opts[i], accts[i] = o, a
	}
	var br bufio.Reader
	var rd bytes.Reader
	ours := func(ctx context.Context) {
		for i, c := range cases {
			rd.Reset(c.header)
			br.Reset(&rd)
			h, err := parse.ReadHeader(&br, nil)
			if err != nil {
				continue
			}
			pr, _ := parse.Candidates(h, opts[i])
			if _, err := Message(ctx, m, accts[i], pr); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			baseline()
		}
		b.ReportMetric(float64(b.N*len(cases))/b.Elapsed().Seconds(), "headers/s")
	})
	b.Run("parse+resolve", func(b *testing.B) {
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			ours(ctx)
		}
		b.ReportMetric(float64(b.N*len(cases))/b.Elapsed().Seconds(), "headers/s")
	})
	// Both, alternating pass by pass, so that load from elsewhere on the
	// machine hits both alike; "ratio" is parse+resolve time / baseline
	// time (the target is ≤ 2).
	b.Run("ratio", func(b *testing.B) {
		ctx := b.Context()
		var base, own time.Duration
		for b.Loop() {
			t0 := time.Now()
			baseline()
			t1 := time.Now()
			ours(ctx)
			base += t1.Sub(t0)
			own += time.Since(t1)
		}
		b.ReportMetric(float64(own)/float64(base), "ratio")
	})
}
