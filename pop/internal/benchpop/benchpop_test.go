// Package benchpop measures the Downloader against the private Dovecot; it
// is run by scripts/bench-pop, one phase per process so that each reports
// its own peak RSS. Without MULTIDROP_BENCH_PHASE every test skips.
package benchpop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/dovecottest"
	"github.com/multidrop/multidrop/pop"
)

// Message generates the i-th message of the benchmark mailbox: a realistic
// header, text lines (some starting with a dot) and, for the larger ones,
// base64 lines. Sizes run from 2 KiB to 1 MiB, about 50 KB on average.
func Message(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	size := 2048 + r.IntN(38<<10)
	if r.IntN(10) == 0 {
		size = int(40 << 10 * math.Pow(25.6, r.Float64()))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.net>\r\n", i)
	fmt.Fprintf(&b, "Received: from mx%d.example.net (mx.example.net [192.0.2.%d])\r\n\tby pop.example.com with ESMTPS id %x\r\n\tfor <user%d@example.com>; Mon, 1 Jun 2026 10:00:00 +0000\r\n", i%7, i%250, r.Uint64(), i%40)
	fmt.Fprintf(&b, "Delivered-To: user%d@example.com\r\nFrom: Sender %d <sender%d@example.net>\r\nTo: user%d@example.com\r\n", i%40, i, i, i%40)
	fmt.Fprintf(&b, "Subject: benchmark message %d\r\nMessage-ID: <%d.%x@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i, r.Uint64())
	const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"
	w := strings.Fields(words)
	b64 := size > 64<<10
	for b.Len() < size {
		if b64 {
			for j := 0; j < 76; j++ {
				b.WriteByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[r.IntN(64)])
			}
			b.WriteString("\r\n")
			continue
		}
		if r.IntN(40) == 0 {
			b.WriteByte('.')
		}
		n := 0
		for n < 60+r.IntN(16) {
			s := w[r.IntN(len(w))]
			b.WriteString(s)
			b.WriteByte(' ')
			n += len(s) + 1
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func phase(t *testing.T, want string) {
	if os.Getenv("MULTIDROP_BENCH_PHASE") != want {
		t.Skip("run by scripts/bench-pop")
	}
}

// TestLoad creates the benchmark users and prints their names.
func TestLoad(t *testing.T) {
	phase(t, "load")
	srv := dovecottest.Get(t)
	n, _ := strconv.Atoi(os.Getenv("MULTIDROP_BENCH_MESSAGES"))
	if n == 0 {
		n = 2000
	}
	user := srv.NewUser(t, "bench")
	var total int64
	for i := 0; i < n; i++ {
		m := Message(i)
		total += int64(len(m))
		srv.Load(t, user, m)
	}
	big := srv.NewUser(t, "bigbench")
	var m bytes.Buffer
	m.WriteString("Subject: 200 MiB\r\n\r\n")
	line := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 2)
	for m.Len() < 200<<20 {
		m.Write(line)
		m.WriteString("\r\n")
	}
	srv.Load(t, big, m.Bytes())
	fmt.Printf("BENCH_USER=%s\nBENCH_BIG_USER=%s\nBENCH_BYTES=%d\nBENCH_MESSAGES=%d\n", user, big, total, n)
}

func benchAccount(t *testing.T, srv *dovecottest.Server, user string) account.Account {
	host, port, err := net.SplitHostPort(srv.POP3S)
	require.NoError(t, err)
	p, _ := strconv.Atoi(port)
	return account.Account{
		ID: "bench", Host: host, Port: p, Security: account.SecurityTLS,
		TLS:  account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth: account.Auth{User: user, Secret: dovecottest.Password, Mechanism: account.MechanismPlain},
	}
}

func report(name string, msgs int, octets int64, d time.Duration) {
	fmt.Printf("%-12s %6d msgs %9.1f MB %7.2f s %8.1f msg/s %7.1f MB/s peak RSS %s\n",
		name, msgs, float64(octets)/1e6, d.Seconds(), float64(msgs)/d.Seconds(), float64(octets)/1e6/d.Seconds(), peakRSS())
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

// TestDownloader fetches the mailbox of MULTIDROP_BENCH_USER with the
// Downloader, discarding bodies and keeping the messages.
func TestDownloader(t *testing.T) {
	phase(t, "downloader")
	srv := dovecottest.Get(t)
	a := benchAccount(t, srv, os.Getenv("MULTIDROP_BENCH_USER"))
	var msgs int
	var octets int64
	h := pop.HandlerFunc(func(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
		n, err := io.Copy(io.Discard, body)
		msgs++
		octets += n
		return pop.Keep, err
	})
	start := time.Now()
	require.NoError(t, (&pop.Downloader{}).Fetch(context.Background(), a, h))
	report("downloader", msgs, octets, time.Since(start))
}

// TestMinimal is the reference: a minimal pipelined RETR loop over TLS
// that finds each message's end and discards it, with no checks beyond.
func TestMinimal(t *testing.T) {
	phase(t, "minimal")
	srv := dovecottest.Get(t)
	user := os.Getenv("MULTIDROP_BENCH_USER")
	start := time.Now()
	conn, err := tls.Dial("tcp", srv.POP3S, srv.TLSConfig(t))
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	line := func() []byte {
		l, err := br.ReadSlice('\n')
		require.NoError(t, err)
		return l
	}
	line()
	fmt.Fprintf(conn, "USER %s\r\nPASS %s\r\nSTAT\r\n", user, dovecottest.Password)
	line()
	line()
	f := strings.Fields(string(line()))
	n, _ := strconv.Atoi(f[1])
	go func() {
		w := bufio.NewWriter(conn)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "RETR %d\r\n", i)
		}
		w.WriteString("QUIT\r\n")
		w.Flush()
	}()
	var octets int64
	for i := 1; i <= n; i++ {
		require.True(t, bytes.HasPrefix(line(), []byte("+OK")))
		atStart := true
		for {
			l, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				octets += int64(len(l))
				atStart = false
				continue
			}
			require.NoError(t, err)
			if atStart && len(l) == 3 && l[0] == '.' {
				break
			}
			octets += int64(len(l))
			atStart = true
		}
	}
	line()
	report("minimal", n, octets, time.Since(start))
}
