package deliver

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normalizeCRLF is the reference: every CRLF, bare CR and bare LF becomes CRLF.
func normalizeCRLF(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// chunkReader returns the bytes of s in pieces of the given sizes (cycling),
// so that CR/LF pairs and dots fall on Write boundaries.
type chunkReader struct {
	s     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.sizes) > 0 {
		n = max(1, c.sizes[c.i%len(c.sizes)])
		c.i++
	}
	n = copy(p[:min(len(p), n)], c.s)
	c.s = c.s[n:]
	return n, nil
}

// checkFramed verifies the properties of framed DATA content for input in.
func checkFramed(t *testing.T, in, out string) {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\r\n.\r\n"), "terminator: %q", out)
	for i := 0; i < len(out); i++ {
		switch out[i] {
		case '\r':
			require.True(t, i+1 < len(out) && out[i+1] == '\n', "bare CR at %d in %q", i, out)
		case '\n':
			require.True(t, i > 0 && out[i-1] == '\r', "bare LF at %d in %q", i, out)
		}
	}
	body := strings.TrimSuffix(out, ".\r\n")
	var un strings.Builder
	for _, line := range strings.SplitAfter(body, "\r\n") {
		if strings.HasPrefix(line, ".") {
			require.True(t, strings.HasPrefix(line, ".."), "unstuffed dot line %q in %q", line, out)
			line = line[1:]
		}
		un.WriteString(line)
	}
	want := normalizeCRLF(in)
	if !strings.HasSuffix(want, "\r\n") { // an empty message becomes one empty line
		want += "\r\n"
	}
	require.Equal(t, want, un.String())
}

func TestFrameData(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "\r\n.\r\n"},
		{"plain", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"no final newline", "a\r\nb", "a\r\nb\r\n.\r\n"},
		{"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
		{"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
		{"CR CR LF", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
		{"leading dot", ".a\r\n..b\r\n", "..a\r\n...b\r\n.\r\n"},
		{"smuggling LF.LF", "a\n.\nMAIL FROM:<x@y>\r\n", "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"},
		{"smuggling CRLF.LF", "a\r\n.\nRCPT", "a\r\n..\r\nRCPT\r\n.\r\n"},
		{"smuggling LF.CRLF", "a\n.\r\nDATA", "a\r\n..\r\nDATA\r\n.\r\n"},
		{"smuggling CR.CR", "a\r.\rQUIT", "a\r\n..\r\nQUIT\r\n.\r\n"},
		{"dot at start", ".", "..\r\n.\r\n"},
		{"NUL and 8-bit untouched", "\x00\xff\xc3\xa9\r\n", "\x00\xff\xc3\xa9\r\n.\r\n"},
	}
	sizes := [][]int{nil, {1}, {2, 1, 3}, {7}, {1 << 20}}
	for _, tt := range tests {
		for _, sz := range sizes {
			t.Run(tt.name, func(t *testing.T) {
				var out bytes.Buffer
				n, err := frameData(&out, &chunkReader{s: []byte(tt.in), sizes: sz})
				require.NoError(t, err)
				assert.Equal(t, int64(len(tt.in)), n)
				assert.Equal(t, tt.want, out.String())
				checkFramed(t, tt.in, out.String())
			})
		}
	}
}

func TestFrameDataLarge(t *testing.T) {
	// Lines that straddle the crlfWriter's chunk size.
	in := strings.Repeat(strings.Repeat("x", crlfChunk-1)+"\r", 3) + "\n." + strings.Repeat("\n", crlfChunk+3)
	var out bytes.Buffer
	_, err := frameData(&out, strings.NewReader(in))
	require.NoError(t, err)
	checkFramed(t, in, out.String())
}

type errWriter struct{ n int }

func (e *errWriter) Write(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.ErrShortWrite
	}
	e.n--
	return len(p), nil
}

func TestCRLFWriterErrors(t *testing.T) {
	cw := newCRLFWriter(&errWriter{})
	_, err := cw.Write([]byte("abc\n"))
	assert.ErrorIs(t, err, io.ErrShortWrite)
	cw = newCRLFWriter(&errWriter{n: 1})
	_, err = cw.Write([]byte("abc\r"))
	require.NoError(t, err)
	assert.ErrorIs(t, cw.Flush(), io.ErrShortWrite)
}

func FuzzFraming(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", ".\r\n.", "\r\r\n\n\r"} {
		f.Add([]byte(s), []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, in, chunks []byte) {
		if len(chunks) > 64 {
			chunks = chunks[:64]
		}
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c)
		}
		var out bytes.Buffer
		n, err := frameData(&out, &chunkReader{s: in, sizes: sizes})
		require.NoError(t, err)
		require.Equal(t, int64(len(in)), n)
		checkFramed(t, string(in), out.String())
	})
}

func BenchmarkFrameData(b *testing.B) {
	var msg bytes.Buffer
	for msg.Len() < 8<<20 {
		msg.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\n")
		msg.WriteString(".leading dot line\r\n")
	}
	b.SetBytes(int64(msg.Len()))
	for b.Loop() {
		if _, err := frameData(io.Discard, bytes.NewReader(msg.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
