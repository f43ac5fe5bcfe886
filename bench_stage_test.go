package multidrop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// The BenchmarkStage* benchmarks give each hot stage of a check a figure of
// its own, per message of a corpus like scripts/bench-pipeline's (messages
// of 2 KiB to 1 MiB, about 50 KB on average, each with the provider's
// Received and Delivered-To on top): one op is one message, so ns/op and
// allocs/op are per message.
//
//	go test -run '^$' -bench Stage -benchmem .

const (
	stageMessages = 200
	stageUsers    = 24
)

func stageUser(i int) string { return fmt.Sprintf("user%02d@example.com", i%stageUsers) }

// stageCorpus returns the messages as the provider serves them.
func stageCorpus() [][]byte {
	c := delivertest.NewCorpus(stageMessages, 2<<10, 1<<20, stageMessages*50_000, 2026)
	out := make([][]byte, stageMessages)
	for i := range out {
		p := fmt.Appendf(nil, "Received: from mx.provider.test by pop.provider.test with LMTP id %08x;\r\n"+
			"\tMon, 02 Nov 2026 10:00:00 +0000\r\nDelivered-To: %s\r\n", i, stageUser(i))
		out[i] = c.Append(p, i)
	}
	return out
}

func stageAccount() account.Account {
	return account.Account{
		ID: "bench", Enabled: true, Host: "127.0.0.1", Port: 110, Domain: "example.com",
		Auth:    account.Auth{User: "drop", Secret: "secret", Mechanism: account.MechanismUser},
		Parsing: account.Parsing{SkipReceived: 1},
	}
}

// stageParsed parses every message of the corpus as a check does.
func stageParsed(tb testing.TB, msgs [][]byte) (*parse.Options, []*parsed) {
	opts, err := parseOptions(stageAccount(), "mx.local.test")
	require.NoError(tb, err)
	out := make([]*parsed, len(msgs))
	for i, m := range msgs {
		out[i], err = parseMessage(bytes.NewReader(m), opts)
		require.NoError(tb, err)
		require.NotEmpty(tb, out[i].res.MessageID)
	}
	return opts, out
}

// BenchmarkStageDownload is download and dot-unstuffing into the spool:
// pop.Downloader over plain POP3 from an in-process poptest server (whose
// own allocations count too), every message spooled as a check does. One
// op is one mailbox of stageMessages; ns/msg and allocs/msg are per message.
func BenchmarkStageDownload(b *testing.B) {
	msgs := stageCorpus()
	s := &poptest.Server{}
	var total int64
	pm := make([]poptest.Message, len(msgs))
	for i, m := range msgs {
		pm[i] = poptest.Message{UID: "u" + strconv.Itoa(i), Data: m}
		total += int64(len(poptest.Served(m)))
	}
	s.AddUser("drop", "secret", pm...)
	s.Start(b)
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(b, err)
	a := stageAccount()
	a.Host = host
	a.Port, err = strconv.Atoi(port)
	require.NoError(b, err)
	a.Security = account.SecurityNone
	a.Auth = account.Auth{User: "drop", Secret: "secret", Mechanism: account.MechanismUser, AllowInsecure: true}
	d := &pop.Downloader{}
	var got int64
	h := pop.HandlerFunc(func(_ context.Context, _ pop.MessageInfo, body io.Reader) (pop.Action, error) {
		sp := spool.New(nil)
		n, err := sp.ReadFrom(body)
		got += n
		return pop.Keep, errJoin(err, sp.Close())
	})
	b.SetBytes(total)
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		require.NoError(b, d.Fetch(b.Context(), a, h))
	}
	runtime.ReadMemStats(&after)
	require.Equal(b, total*int64(b.N), got)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*len(msgs)), "allocs/msg")
}

func errJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// BenchmarkStageParse reads the top-level header and finds the recipient
// candidates (parseMessage).
func BenchmarkStageParse(b *testing.B) {
	msgs := stageCorpus()
	opts, _ := stageParsed(b, msgs)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := parseMessage(bytes.NewReader(msgs[i%len(msgs)]), opts); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkStageResolve resolves a parsed message's candidates against a
// static directory of stageUsers users.
func BenchmarkStageResolve(b *testing.B) {
	_, ps := stageParsed(b, stageCorpus())
	var tab resolve.Table
	for i := range stageUsers {
		tab.Users = append(tab.Users, resolve.User{Address: stageUser(i)})
	}
	dir, err := resolve.NewStatic(tab)
	require.NoError(b, err)
	r, a := resolve.New(dir, nil), stageAccount()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, err := resolve.Message(b.Context(), r, a, ps[i%len(ps)].res)
		if err != nil || len(res.Recipients) == 0 {
			b.Fatalf("%v %+v", err, res)
		}
		i++
	}
}

// BenchmarkStageDigest computes a spooled message's digests: the whole
// message's (Digest, the journal key) and the body's (copy identity), two
// SHA-256 passes over the body in one reading.
func BenchmarkStageDigest(b *testing.B) {
	msgs := stageCorpus()
	_, ps := stageParsed(b, msgs)
	sps := make([]*spool.Spool, len(msgs))
	var total int64
	for i, m := range msgs {
		sp, err := spool.Read(bytes.NewReader(m), nil)
		require.NoError(b, err)
		b.Cleanup(func() { _ = sp.Close() })
		sps[i] = sp
		total += int64(len(m))
	}
	b.SetBytes(total / int64(len(msgs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(msgs)
		var mr MessageReport
		if err := digests(&mr, sps[k], ps[k]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkStageMaildir delivers each message to its one recipient with
// the defaults of multidropd: key-named files, every file and its directory
// entry fsynced (tmp/, link into new/, fsync of new/, unlink from tmp/).
func BenchmarkStageMaildir(b *testing.B) {
	msgs := stageCorpus()
	root := b.TempDir()
	m, err := deliver.NewMaildir(&deliver.MaildirOptions{
		Root: root, Create: true, // the defaults: key-named files, Delivered-To
		TraceOptions: deliver.TraceOptions{LocalHost: "mx.local.test", DeliveredTo: true, ReturnPath: true},
		SpoolDir:     root,
	})
	require.NoError(b, err)
	var total int64
	for _, msg := range msgs {
		total += int64(len(msg))
	}
	b.SetBytes(total / int64(len(msgs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % len(msgs)
		key := "sha256:" + strconv.Itoa(i)
		env := deliver.Envelope{To: []string{stageUser(k)}, Trace: deliver.Trace{Host: "pop.provider.test", Key: key, Account: "bench", Digest: key}}
		res, err := m.Deliver(b.Context(), env, bytes.NewReader(msgs[k]))
		if err != nil || res[0].Status != deliver.Delivered {
			b.Fatalf("%v %+v", err, res)
		}
		i++
	}
}

// BenchmarkStageJournal commits one message's journal record (its key,
// recipients and Message-ID) to an SQLite journal, durable on return:
// alone, and in groups of 8 as the pipeline's group commit makes them when
// messages finish together.
func BenchmarkStageJournal(b *testing.B) {
	for _, group := range []int{1, 8} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			db, a := stageJournal(b)
			b.ReportAllocs()
			recs := make([]account.Record, 0, group)
			i := 0
			for b.Loop() {
				at := time.Now()
				recs = append(recs, account.Record{
					Key: "sha256:" + strconv.Itoa(i), Rcpts: []string{stageUser(i)}, At: at,
					MessageID: fmt.Sprintf("<%d@remote.test>", i), IDRcpts: []string{stageUser(i)}, Expires: at.Add(24 * time.Hour),
				})
				if len(recs) == group {
					if err := account.RecordAll(b.Context(), db, a.ID, recs); err != nil {
						b.Fatal(err)
					}
					recs = recs[:0]
				}
				i++
			}
		})
	}
}

// BenchmarkStageJournalPlan reads the journal's states of a listing's keys
// from an SQLite journal, as a check's plan does: one Delivered per key (a
// read transaction each), and one DeliveredAll for the whole listing (a
// BatchReader: one query per 500 keys). The listing has 2,000 UIDs, half
// of them final; ns/key is the time per listed key in both.
func BenchmarkStageJournalPlan(b *testing.B) {
	const listing = 2000
	db, a := stageJournal(b)
	keys := make([]string, listing)
	var recs []account.Record
	now := time.Now()
	for i := range keys {
		keys[i] = fmt.Sprintf("uid%06d", i)
		if i%2 == 0 {
			recs = append(recs, account.Record{Key: keys[i], Rcpts: []string{stageUser(i)}, Final: true, At: now})
		}
	}
	_, err := db.Sync(b.Context(), a.ID, keys, now)
	require.NoError(b, err)
	require.NoError(b, account.RecordAll(b.Context(), db, a.ID, recs))
	perKey := func(b *testing.B, keysPerOp int) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keysPerOp), "ns/key")
	}
	b.Run("each", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.Delivered(b.Context(), a.ID, keys[i%listing]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perKey(b, 1)
	})
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := account.DeliveredAll(b.Context(), db, a.ID, keys)
			if err != nil || len(got) != listing/2 {
				b.Fatal(err, len(got))
			}
		}
		perKey(b, listing)
	})
}

// BenchmarkStageJournalForget forgets, in one Forget as a check does after
// its session committed, the state of 2,000 deleted messages of an SQLite
// journal (their seen UID, recipient and final mark); ns/key is the time
// per key, the recording of the state excluded.
func BenchmarkStageJournalForget(b *testing.B) {
	const deleted = 2000
	db, a := stageJournal(b)
	keys := make([]string, deleted)
	recs := make([]account.Record, deleted)
	b.ReportAllocs()
	var forgetting time.Duration
	round := 0
	for b.Loop() {
		b.StopTimer()
		now := time.Now()
		for i := range keys {
			keys[i] = fmt.Sprintf("uid%d-%06d", round, i)
			recs[i] = account.Record{Key: keys[i], Rcpts: []string{stageUser(i)}, Final: true, At: now}
		}
		round++
		_, err := db.Sync(b.Context(), a.ID, keys, now)
		require.NoError(b, err)
		require.NoError(b, account.RecordAll(b.Context(), db, a.ID, recs))
		b.StartTimer()
		start := time.Now()
		if err := db.Forget(b.Context(), a.ID, keys...); err != nil {
			b.Fatal(err)
		}
		forgetting += time.Since(start)
	}
	b.ReportMetric(float64(forgetting.Nanoseconds())/float64(b.N*deleted), "ns/key")
}

// stageJournal opens an SQLite store in a temporary directory, closed when
// b ends, with the stage account in it.
func stageJournal(b *testing.B) (*sqlstore.Store, account.Account) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "multidrop.db"), nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	a, err := db.Put(b.Context(), stageAccount())
	require.NoError(b, err)
	return db, a
}
