package spool

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSpoolRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size      int
		threshold int64
		inMemory  bool
	}{
		{"empty", 0, 0, true},
		{"small in memory", 1000, 0, true},
		{"exactly threshold", 4096, 4096, true},
		{"one over threshold", 4097, 4096, false},
		{"always file", 10, -1, false},
		{"large file", 3<<20 + 17, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := randomBytes(tc.size, uint64(tc.size))
			// HalfReader exercises odd read sizes; the size hints are
			// none, exact, too small and too large.
			for i, r := range []io.Reader{bytes.NewReader(want), iotest.HalfReader(bytes.NewReader(want)),
				bytes.NewReader(want), bytes.NewReader(want), bytes.NewReader(want)} {
				hint := []int64{0, 0, int64(tc.size), int64(tc.size / 2), int64(2*tc.size + 1)}[i]
				s, err := Read(r, &Options{Threshold: tc.threshold, Dir: dir, SizeHint: hint})
				require.NoError(t, err)
				assert.Equal(t, int64(tc.size), s.Size())
				// A hint over the threshold sends the message to the
				// file at once.
				threshold := tc.threshold
				if threshold == 0 {
					threshold = DefaultThreshold
				}
				assert.Equal(t, tc.inMemory && hint <= threshold, s.InMemory())
				for range 3 { // re-readable any number of times
					got, err := io.ReadAll(s.Reader())
					require.NoError(t, err)
					assert.True(t, bytes.Equal(want, got), "content differs")
				}
				if tc.size > 10 {
					p := make([]byte, 5)
					n, err := s.ReadAt(p, int64(tc.size-3))
					assert.Equal(t, 3, n)
					assert.ErrorIs(t, err, io.EOF)
					assert.Equal(t, want[tc.size-3:], p[:3])
				}
				require.NoError(t, s.Close())
				require.NoError(t, s.Close()) // idempotent
				_, err = s.ReadAt(make([]byte, 1), 0)
				assert.ErrorIs(t, err, ErrClosed)
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "temporary files left behind")
		})
	}
}

// TestSpoolBuffersReused checks that a closed spool's memory, taken again
// by the next spool, never shows through: neither to the new spool's
// readers nor to the old spool's.
func TestSpoolBuffersReused(t *testing.T) {
	long, short := randomBytes(50000, 1), randomBytes(3000, 2)
	a, err := Read(bytes.NewReader(long), &Options{SizeHint: int64(len(long))})
	require.NoError(t, err)
	ra := a.Reader()
	require.NoError(t, a.Close())
	for range 10 {
		b, err := Read(bytes.NewReader(short), &Options{SizeHint: int64(len(long))})
		require.NoError(t, err)
		got, err := io.ReadAll(b.Reader())
		require.NoError(t, err)
		assert.True(t, bytes.Equal(short, got))
		p := make([]byte, 10)
		n, err := b.ReadAt(p, int64(len(short)))
		assert.Zero(t, n, "nothing past the end")
		assert.ErrorIs(t, err, io.EOF)
		_, err = ra.Read(p)
		assert.ErrorIs(t, err, ErrClosed, "a closed spool's reader reads nothing")
		require.NoError(t, b.Close())
	}
	// Reused, the memory of a hinted spool is not allocated again.
	const runs = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		s, err := Read(bytes.NewReader(long), &Options{SizeHint: int64(len(long))})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d bytes allocated per %d-byte message", perRun, len(long))
	assert.Less(t, perRun, uint64(len(long)/4))
}

func TestSpoolWritesMixed(t *testing.T) {
	// Writes of every size across the threshold and the buffer boundary.
	want := randomBytes(2*bufSize+12345, 7)
	s := New(&Options{Threshold: 1000, Dir: t.TempDir()})
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(bufSize+100))
		m, err := s.Write(rest[:n])
		require.NoError(t, err)
		require.Equal(t, n, m)
		rest = rest[n:]
	}
	got, err := io.ReadAll(s.Reader())
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
	// Appending after a read still works and is visible to new readers.
	_, err = s.Write([]byte("tail"))
	require.NoError(t, err)
	got, err = io.ReadAll(s.Reader())
	require.NoError(t, err)
	assert.Equal(t, "tail", string(got[len(want):]))
}

func TestSpoolTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max int64
		threshold int64
		fail      bool
	}{
		{"at cap in memory", 100, 100, 0, false},
		{"over cap in memory", 101, 100, 0, true},
		{"at cap in file", 1 << 20, 1 << 20, 1000, false},
		{"over cap in file", 1<<20 + 1, 1 << 20, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Read(bytes.NewReader(make([]byte, tc.size)), &Options{MaxSize: tc.max, Threshold: tc.threshold, Dir: dir})
			if !tc.fail {
				require.NoError(t, err)
				assert.Equal(t, tc.size, s.Size())
				require.NoError(t, s.Close())
				return
			}
			var tl *TooLargeError
			require.ErrorAs(t, err, &tl)
			assert.Equal(t, tc.max, tl.Max)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), "spool: message larger than")
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries)
		})
	}
	// Write keeps failing after the cap was hit.
	s := New(&Options{MaxSize: 3})
	defer s.Close()
	n, err := s.Write([]byte("abcd"))
	assert.Equal(t, 3, n)
	var tl *TooLargeError
	require.ErrorAs(t, err, &tl)
	_, err = s.Write([]byte("x"))
	require.ErrorAs(t, err, &tl)
}

func TestSpoolReadError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(make([]byte, 5000)), iotest.ErrReader(boom))
	s, err := Read(r, &Options{Threshold: 100, Dir: t.TempDir()})
	require.ErrorIs(t, err, boom)
	assert.Nil(t, s)
}

func TestSpoolBadDir(t *testing.T) {
	_, err := Read(bytes.NewReader(make([]byte, 10)), &Options{Threshold: -1, Dir: "/nonexistent/dir"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spool: ")
}

func TestSpoolConcurrentReaders(t *testing.T) {
	want := randomBytes(3<<20, 3)
	s, err := Read(bytes.NewReader(want), &Options{Dir: t.TempDir()})
	require.NoError(t, err)
	defer s.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := io.ReadAll(s.Reader())
			assert.NoError(t, err)
			assert.True(t, bytes.Equal(want, got))
		})
	}
	wg.Wait()
}

// patternReader yields n bytes without holding them in memory.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte(i)
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// TestSpoolBoundedMemory spools 64 MiB and checks that the bytes allocated
// stay a small fraction of it: the memory use does not grow with the message.
func TestSpoolBoundedMemory(t *testing.T) {
	const size = 64 << 20
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := Read(&patternReader{n: size}, &Options{Dir: dir})
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, s.Reader())
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	runtime.ReadMemStats(&after)
	require.NoError(t, s.Close())
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes for a %d-byte message", alloc, size)
	assert.Less(t, alloc, uint64(4<<20), "allocation grows with the message size")
}

func BenchmarkSpool(b *testing.B) {
	for _, size := range []int64{64 << 10, 16 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				s, err := Read(&patternReader{n: size}, &Options{Dir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, s.Reader()); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt(n>>20, 10) + "MiB"
	}
	return strconv.FormatInt(n>>10, 10) + "KiB"
}

func TestSpoolWriteRangeTo(t *testing.T) {
	want := randomBytes(5000, 3)
	for _, threshold := range []int64{0, -1} { // in memory, in a file
		s, err := Read(bytes.NewReader(want), &Options{Threshold: threshold, Dir: t.TempDir()})
		require.NoError(t, err)
		for _, r := range [][2]int64{{0, 5000}, {0, 0}, {1234, 100}, {4999, 1}, {5000, 0}} {
			var b bytes.Buffer
			n, err := s.WriteRangeTo(&b, r[0], r[1])
			require.NoError(t, err)
			assert.Equal(t, r[1], n)
			assert.True(t, bytes.Equal(want[r[0]:r[0]+r[1]], b.Bytes()), "range %v", r)
		}
		_, err = s.WriteRangeTo(io.Discard, 4000, 1001)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		_, err = s.WriteRangeTo(io.Discard, -1, 1)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		require.NoError(t, s.Close())
		_, err = s.WriteRangeTo(io.Discard, 0, 1)
		assert.ErrorIs(t, err, ErrClosed)
	}
}

// TestSpoolPoolBound: the idle chunks kept for reuse add up to at most
// 512 KiB, two messages of the Pipeline's default in-memory threshold
// (256 KiB), however many spools close at once (the deliveries of a check
// finish together); and the next message takes them instead of new memory.
func TestSpoolPoolBound(t *testing.T) {
	pool.mu.Lock()
	pool.free = nil
	pool.mu.Unlock()
	msg := randomBytes(200<<10, 3)
	open := func() *Spool {
		s, err := Read(bytes.NewReader(msg), &Options{SizeHint: int64(len(msg))})
		require.NoError(t, err)
		return s
	}
	var ss []*Spool
	for range 9 {
		ss = append(ss, open())
	}
	for _, s := range ss {
		require.NoError(t, s.Close())
	}
	pool.mu.Lock()
	kept := len(pool.free) * chunkSize
	pool.mu.Unlock()
	assert.LessOrEqual(t, kept, 512<<10, "bytes kept in the pool")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, open().Close())
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(len(msg)/4), "the pooled chunks reused")
}

// A message announced larger than the threshold goes to the file from its
// first byte: no memory buffer of the threshold's size is filled, copied
// and dropped first.
func TestSpoolHintOverThreshold(t *testing.T) {
	const threshold, size = 1 << 20, 3 << 20
	dir := t.TempDir()
	want := randomBytes(size, 11)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := Read(bytes.NewReader(want), &Options{Threshold: threshold, Dir: dir, SizeHint: size})
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	defer s.Close()
	assert.False(t, s.InMemory())
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(threshold/2), "the threshold's memory was taken")
	got, err := io.ReadAll(s.Reader())
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got))
}
