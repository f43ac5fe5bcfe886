//go:build unix

package deliver_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
)

// maxRSS returns the peak resident set size of the process in bytes.
func maxRSS() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) // bytes
	}
	return float64(ru.Maxrss) * 1024 // KiB elsewhere
}

// BenchmarkMaildirCorpus delivers a corpus of 2,000 messages (about 100 MB,
// 2 KiB to 1 MiB each) to 24 users, fsync and all, each message to one user
// and then each to 5 users (one file hard-linked to each). It writes about
// 100 MB per run: use -benchtime=1x.
func BenchmarkMaildirCorpus(b *testing.B) {
	corpus := delivertest.NewCorpus(2000, 2<<10, 1<<20, 100<<20, 1)
	const users = 24
	for _, fan := range []int{1, 5} {
		b.Run(fmt.Sprintf("users=%d/recipients=%d", users, fan), func(b *testing.B) {
			dir := b.TempDir()
			md, err := deliver.NewMaildir(&deliver.MaildirOptions{
				Template:     "{root}/{domain}/{user}/Maildir",
				Root:         dir,
				Create:       true,
				TraceOptions: deliver.TraceOptions{DeliveredTo: true, LocalHost: "mx.example.com"},
			})
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			to := make([]string, fan)
			b.SetBytes(corpus.Total())
			run := 0
			for b.Loop() {
				for i := range corpus.Len() {
					buf = corpus.Append(buf[:0], i)
					for k := range to {
						to[k] = fmt.Sprintf("user%d@r%d.example", (i+k)%users, run)
					}
					env := deliver.Envelope{From: "s@example.org", To: to, Trace: deliver.Trace{Host: "pop.example.net", Key: fmt.Sprint(i)}}
					res, err := md.Deliver(b.Context(), env, bytes.NewReader(buf))
					if err != nil {
						b.Fatal(err)
					}
					for _, r := range res {
						if r.Status != deliver.Delivered {
							b.Fatal(r.Recipient, r.Err)
						}
					}
				}
				b.StopTimer()
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				run++
				b.StartTimer()
			}
			b.ReportMetric(float64(corpus.Len()*b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(maxRSS()/(1<<20), "maxrss-MiB")
		})
	}
}
