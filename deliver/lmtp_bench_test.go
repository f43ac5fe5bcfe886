package deliver_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/internal/dovecottest"
)

// BenchmarkLMTPDovecotCorpus delivers the 2,000-message corpus (about
// 100 MB, 2 KiB to 1 MiB each) to 24 users of the private Dovecot over LMTP,
// one connection and one recipient per message. It writes about 100 MB into
// Dovecot's Maildirs per run: use -benchtime=1x.
func BenchmarkLMTPDovecotCorpus(b *testing.B) {
	srv := dovecottest.Get(b)
	corpus := delivertest.NewCorpus(2000, 2<<10, 1<<20, 100<<20, 1)
	const nusers = 24
	users := make([]string, nusers)
	for i := range users {
		users[i] = srv.NewUser(b, "bench")
	}
	strip := func(a string) string { return a[:len(a)-len("@example.com")] }
	for _, tr := range []struct{ network, addr string }{{"unix", srv.LMTPSocket}, {"tcp", srv.LMTP}} {
		b.Run(tr.network, func(b *testing.B) {
			l := deliver.NewLMTP(tr.network, tr.addr, &deliver.LMTPOptions{
				TraceOptions: deliver.TraceOptions{LocalHost: "mx.example.com"},
				RcptTo:       strip,
			})
			// Dovecot re-reads its users file at most once a second.
			for deadline := time.Now().Add(10 * time.Second); ; {
				to := make([]string, nusers)
				for i, u := range users {
					to[i] = u + "@example.com"
				}
				res, err := l.Deliver(b.Context(), deliver.Envelope{To: to}, bytes.NewReader([]byte("Subject: warm-up\r\n\r\n.\r\n")))
				ok := err == nil
				for _, r := range res {
					ok = ok && r.Status == deliver.Delivered
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("Dovecot does not know the users:", err, res)
				}
				time.Sleep(100 * time.Millisecond)
			}
			var buf []byte
			b.SetBytes(corpus.Total())
			for b.Loop() {
				for i := range corpus.Len() {
					buf = corpus.Append(buf[:0], i)
					env := deliver.Envelope{From: "s@example.org", To: []string{users[i%nusers] + "@example.com"},
						Trace: deliver.Trace{Host: "pop.example.net", Key: fmt.Sprint(i)}}
					res, err := l.Deliver(b.Context(), env, bytes.NewReader(buf))
					if err != nil {
						b.Fatal(err)
					}
					if res[0].Status != deliver.Delivered {
						b.Fatal(res[0].Recipient, res[0].Err)
					}
				}
			}
			b.ReportMetric(float64(corpus.Len()*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
