package pop

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/dovecottest"
	"github.com/multidrop/multidrop/pop/poptest"
)

const (
	benchMessages = 200
	benchSize     = 64 << 10
)

func benchBodies() [][]byte {
	out := make([][]byte, benchMessages)
	for i := range out {
		out[i] = bigMessage(benchSize, uint64(i))
	}
	return out
}

// benchFetch fetches the whole mailbox b.N times, keeping every message,
// and reports MB/s and allocations per message (client and, for poptest,
// the in-process server).
func benchFetch(b *testing.B, a account.Account, d *Downloader, total int64) {
	b.SetBytes(total)
	b.ReportAllocs()
	h := HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
		_, err := io.Copy(io.Discard, body)
		return Keep, err
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		require.NoError(b, d.Fetch(context.Background(), a, h))
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*benchMessages), "allocs/msg")
}

func BenchmarkRetrPoptest(b *testing.B) {
	for _, tc := range []struct {
		name   string
		window int
	}{{"pipelined", 0}, {"lock-step", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			s := &poptest.Server{ImplicitTLS: true}
			var total int64
			var msgs []poptest.Message
			for _, m := range benchBodies() {
				msgs = append(msgs, poptest.Message{UID: "u" + itoa(len(msgs)), Data: m})
				total += int64(len(poptest.Served(m)))
			}
			s.AddUser(testUser, testPass, msgs...)
			s.Start(b)
			benchFetch(b, testAccount(b, s, account.SecurityTLS, account.MechanismPlain), &Downloader{Options: Options{Timeouts: account.Timeouts{Window: tc.window}}}, total)
		})
	}
}

func BenchmarkRetrDovecot(b *testing.B) {
	srv := dovecottest.Get(b)
	user := newUser(b, srv, "bench")
	var total int64
	bodies := benchBodies()
	for _, m := range bodies {
		total += int64(len(dovecottest.Served(m)))
	}
	srv.Load(b, user, bodies...)
	for _, tc := range []struct {
		name   string
		window int
	}{{"pipelined", 0}, {"lock-step", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			benchFetch(b, dovecotAccount(b, srv, user, account.SecurityTLS, account.MechanismPlain), &Downloader{Options: Options{Timeouts: account.Timeouts{Window: tc.window}}}, total)
		})
	}
}
