package pop

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stuff encodes m as a POP3 server sends it: a CRLF added when m does not
// end with one, a dot before every line (after CRLF) starting with ".",
// and the terminator.
func stuff(m []byte) []byte {
	var b bytes.Buffer
	start := true
	for i, c := range m {
		if start && c == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(c)
		start = c == '\n' && i > 0 && m[i-1] == '\r'
	}
	if len(m) > 0 && !bytes.HasSuffix(m, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// served is what a client must read back for m: m with a final CRLF
// when it has none (and m is not empty).
func served(m []byte) []byte {
	if len(m) > 0 && !bytes.HasSuffix(m, []byte("\r\n")) {
		return append(bytes.Clone(m), '\r', '\n')
	}
	return m
}

func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/corpus/*.eml")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.Base(p)] = b
	}
	return out
}

func decodeAll(t testing.TB, wire []byte, bufSize int, readSize int, oneByte bool) ([]byte, []byte, error) {
	t.Helper()
	var src io.Reader = bytes.NewReader(wire)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	br := bufio.NewReaderSize(src, bufSize)
	d := newDotReader(br, "RETR")
	var out bytes.Buffer
	var err error
	if readSize == 0 {
		_, err = d.WriteTo(&out)
	} else {
		p := make([]byte, readSize)
		for {
			n, rerr := d.Read(p)
			out.Write(p[:n])
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				err = rerr
				break
			}
		}
	}
	rest, _ := io.ReadAll(br)
	return out.Bytes(), rest, err
}

func TestDotReaderCorpus(t *testing.T) {
	msgs := corpus(t)
	msgs["long-line"] = append(append([]byte("Subject: long\r\n\r\n"), bytes.Repeat([]byte("x"), 5<<20)...), "\r\n.\r\n"...)
	for name, m := range msgs {
		for _, tc := range []struct {
			buf, read int
			one       bool
		}{{16, 1, false}, {16, 7, true}, {4096, 4096, false}, {65536, 0, false}, {16, 0, true}} {
			if len(m) > 1<<20 && tc.one {
				continue
			}
			got, rest, err := decodeAll(t, append(stuff(m), "+OK next\r\n"...), tc.buf, tc.read, tc.one)
			require.NoError(t, err, name)
			assert.True(t, bytes.Equal(served(m), got), "%s (buf %d read %d): got %q", name, tc.buf, tc.read, trunc(got))
			assert.Equal(t, "+OK next\r\n", string(rest), name)
		}
	}
}

func trunc(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func TestDotReaderWire(t *testing.T) {
	tests := []struct {
		name, wire, want, rest string
		err                    error
	}{
		{"empty", ".\r\n", "", "", nil},
		{"one line", "a\r\n.\r\n", "a\r\n", "", nil},
		{"unstuff once", "..\r\n...\r\n.\r\n", ".\r\n..\r\n", "", nil},
		{"bare LF dot is data", "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", "", nil},
		{"bare CR dot is data", "a\r.\r\n.\r\n", "a\r.\r\n", "", nil},
		{"dot LF at line start is unstuffed", "a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", "", nil},
		{"terminator leaves the rest", "x\r\n.\r\n+OK\r\n", "x\r\n", "+OK\r\n", nil},
		{"eof", "abc\r\n", "abc\r\n", "", ErrNoTerminator},
		{"eof after dot", "abc\r\n.\r", "abc\r\n", ".\r", ErrNoTerminator},
		{"eof mid line", "abc", "abc", "", ErrNoTerminator},
		{"eof at once", "", "", "", ErrNoTerminator},
		{"lf terminator is not one", "a\r\n.\n", "a\r\n", ".\n", ErrNoTerminator},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, read := range []int{0, 1, 3, 100} {
				got, rest, err := decodeAll(t, []byte(tc.wire), 16, read, read == 1)
				if tc.err != nil {
					require.ErrorIs(t, err, tc.err)
					var pe *ProtocolError
					require.ErrorAs(t, err, &pe)
					assert.Equal(t, "RETR", pe.Command)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tc.want, string(got), "read %d", read)
				assert.Equal(t, tc.rest, string(rest))
			}
		})
	}
}

func TestDotReaderDrainAndStale(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("line one\r\nline two\r\n.\r\n+OK\r\n"), 16)
	d := newDotReader(br, "RETR")
	p := make([]byte, 4)
	n, err := d.Read(p)
	require.NoError(t, err)
	assert.Equal(t, "line", string(p[:n]))
	require.NoError(t, d.drain())
	_, err = d.Read(p)
	assert.ErrorIs(t, err, errStale)
	rest, _ := io.ReadAll(br)
	assert.Equal(t, "+OK\r\n", string(rest))
}

func FuzzDotReader(f *testing.F) {
	for _, m := range corpus(f) {
		f.Add(m)
	}
	f.Add([]byte("a\n.\r\n..\r\n"))
	f.Fuzz(func(t *testing.T, m []byte) {
		// Round trip: whatever m holds, stuffing then decoding gives it
		// back with a final CRLF, however the reads are cut.
		want := served(m)
		wire := append(stuff(m), "+OK\r\n"...)
		for _, read := range []int{0, 1, 5} {
			got, rest, err := decodeAll(t, wire, 16, read, read == 1)
			if err != nil {
				t.Fatalf("read %d: %v", read, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d: got %q want %q", read, got, want)
			}
			if string(rest) != "+OK\r\n" {
				t.Fatalf("read %d: rest %q", read, rest)
			}
		}
		// Raw input: never more out than in, and the same result however
		// it is read.
		a, _, errA := decodeAll(t, m, 16, 0, false)
		b, _, errB := decodeAll(t, m, 16, 3, true)
		if !bytes.Equal(a, b) || (errA == nil) != (errB == nil) {
			t.Fatalf("split-dependent decoding of %q: %q/%v vs %q/%v", m, a, errA, b, errB)
		}
		if len(a) > len(m) {
			t.Fatalf("decoded more than read")
		}
	})
}

func BenchmarkDotReader(b *testing.B) {
	for _, bc := range []struct{ name, lines string }{
		// Text as mail has it: lines beginning with a dot are rare.
		{"text", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n"},
		// The worst case: every other line is stuffed.
		{"dots", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n.leading dot\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var m bytes.Buffer
			for m.Len() < 1<<20 {
				m.WriteString(bc.lines)
			}
			wire := stuff(m.Bytes())
			r := bytes.NewReader(wire)
			br := bufio.NewReaderSize(r, bufferSize)
			b.SetBytes(int64(m.Len()))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(wire)
				br.Reset(r)
				d := newDotReader(br, "RETR")
				if _, err := io.Copy(io.Discard, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
