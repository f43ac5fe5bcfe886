package deliver

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var traceTime = time.Date(2024, 3, 5, 7, 8, 9, 0, time.FixedZone("", -5*3600))

func TestPrelude(t *testing.T) {
	env := Envelope{
		From:  "sender@example.org",
		To:    []string{"alice@example.com", "bob@example.com"},
		Trace: Trace{Host: "pop.provider.net:995", Key: "UID123"},
	}
	tests := []struct {
		name  string
		opts  *TraceOptions
		env   Envelope
		rcpts []string
		want  string
	}{
		{
			name:  "one recipient",
			opts:  &TraceOptions{LocalHost: "mx.example.com", Now: func() time.Time { return traceTime }},
			env:   env,
			rcpts: []string{"alice@example.com"},
			want: "Received: from pop.provider.net by mx.example.com with POP3 id UID123\r\n" +
				"\tfor <alice@example.com>; Tue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
		{
			name:  "several recipients: no for, no Delivered-To",
			opts:  &TraceOptions{LocalHost: "mx.example.com", DeliveredTo: true, Now: func() time.Time { return traceTime }},
			env:   env,
			rcpts: []string{"alice@example.com", "bob@example.com"},
			want:  "Received: from pop.provider.net by mx.example.com with POP3 id UID123;\r\n\tTue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
		{
			name: "everything",
			opts: &TraceOptions{LocalHost: "mx.example.com", ReturnPath: true, DeliveredTo: true, LoopStamp: true,
				Now: func() time.Time { return traceTime }},
			env:   env,
			rcpts: []string{"bob@example.com"},
			want: "Return-Path: <sender@example.org>\r\n" +
				"Delivered-To: bob@example.com\r\n" +
				"X-Multidrop-Loop: mx.example.com\r\n" +
				"Received: from pop.provider.net by mx.example.com with POP3 id UID123\r\n" +
				"\tfor <bob@example.com>; Tue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
		{
			name:  "IP host, odd key, null sender",
			opts:  &TraceOptions{LocalHost: "mx", ReturnPath: true, Now: func() time.Time { return traceTime }},
			env:   Envelope{From: "bad\r\nInjected: x", Trace: Trace{Host: "192.0.2.7", Key: "a(b)c\\d"}},
			rcpts: []string{"a@b.example"},
			want: "Return-Path: <>\r\n" +
				"Received: from [192.0.2.7] by mx with POP3 (id a\\(b\\)c\\\\d) for <a@b.example>;\r\n" +
				"\tTue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
		{
			name:  "IPv6 host, no key",
			opts:  &TraceOptions{LocalHost: "mx", Now: func() time.Time { return traceTime }},
			env:   Envelope{Trace: Trace{Host: "[2001:db8::1]:110"}},
			rcpts: []string{"a@b.example"},
			want:  "Received: from [IPv6:2001:db8::1] by mx with POP3 for <a@b.example>;\r\n\tTue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
		{
			name:  "no host",
			opts:  &TraceOptions{LocalHost: "mx", Now: func() time.Time { return traceTime }},
			env:   Envelope{},
			rcpts: []string{"a@b.example", "c@b.example"},
			want:  "Received: by mx with POP3; Tue, 05 Mar 2024 07:08:09 -0500\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.Prelude(tt.env, tt.rcpts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			for _, line := range strings.SplitAfter(string(got), "\r\n") {
				assert.LessOrEqual(t, len(strings.TrimSuffix(line, "\r\n")), maxFoldColumns, line)
			}
		})
	}
}

func TestPreludeRefuses(t *testing.T) {
	now := func() time.Time { return traceTime }
	tests := []struct {
		name  string
		opts  TraceOptions
		env   Envelope
		rcpts []string
	}{
		{"CRLF in recipient", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"a@b.example\r\nBcc: x@y.example"}},
		{"LF in recipient", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"a@b.example\nX: y"}},
		{"NUL in recipient", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"a\x00@b.example"}},
		{"no domain", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"alice"}},
		{"space", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"al ice@b.example"}},
		{"angle", TraceOptions{LocalHost: "mx"}, Envelope{}, []string{"a>@b.example"}},
		{"bad local host", TraceOptions{LocalHost: "mx\r\nX: y"}, Envelope{}, []string{"a@b.example"}},
		{"bad POP host", TraceOptions{LocalHost: "mx"}, Envelope{Trace: Trace{Host: "pop\nX"}}, []string{"a@b.example"}},
		{"bad key", TraceOptions{LocalHost: "mx"}, Envelope{Trace: Trace{Key: "k\r\n"}}, []string{"a@b.example"}},
		{"long key", TraceOptions{LocalHost: "mx"}, Envelope{Trace: Trace{Key: strings.Repeat("k", 256)}}, []string{"a@b.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = now
			_, err := tt.opts.Prelude(tt.env, tt.rcpts)
			require.Error(t, err)
			assert.False(t, IsTemporary(err), "%v", err)
		})
	}
}

func TestCheckAddress(t *testing.T) {
	good := []string{
		"alice@example.com", "a.b+c@sub.example.com", `"john doe"@example.com`, "user@[192.0.2.1]",
		"user@[IPv6:2001:db8::1]", "jörg@bücher.example", "x_y@under_score.example",
	}
	bad := []string{
		"", "@example.com", "alice@", "alice", "a..b@example.com", ".a@example.com", "a@example.com.",
		"a@-x.example", "a@[300.1.1.1]", "a@[IPv6:1.2.3.4]", `"unterminated@example.com`, "a\tb@example.com",
		strings.Repeat("l", 65) + "@example.com", "a@" + strings.Repeat("d", 250) + ".com", "\xff@example.com",
	}
	for _, a := range good {
		assert.NoError(t, checkAddress(a), a)
		assert.Equal(t, a, ReversePath(a))
	}
	for _, a := range bad {
		assert.Error(t, checkAddress(a), a)
		assert.Empty(t, ReversePath(a))
	}
}

func TestHygieneReader(t *testing.T) {
	const msg = "Return-Path: <x@provider.example>\r\n" +
		"Delivered-To: domain-pop@provider.example\r\n" +
		"X-Original-To: alice@example.com,\r\n" +
		"\tbob@example.com\r\n" +
		"Subject: Delivered-To: stays\r\n" +
		"delivered-to : obsolete@example.com\r\n" +
		"To: alice@example.com\r\n" +
		"\r\n" +
		"Delivered-To: in the body stays\r\n"
	tests := []struct {
		name string
		h    *Hygiene
		want string
	}{
		{"nil is rename", nil, "X-Original-Return-Path: <x@provider.example>\r\n" +
			"X-Original-Delivered-To: domain-pop@provider.example\r\n" +
			"X-Original-X-Original-To: alice@example.com,\r\n" +
			"\tbob@example.com\r\n" +
			"Subject: Delivered-To: stays\r\n" +
			"X-Original-delivered-to : obsolete@example.com\r\n" +
			"To: alice@example.com\r\n" +
			"\r\n" +
			"Delivered-To: in the body stays\r\n"},
		{"remove", &Hygiene{Action: RemoveEnvelopeFields}, "Subject: Delivered-To: stays\r\n" +
			"To: alice@example.com\r\n" +
			"\r\n" +
			"Delivered-To: in the body stays\r\n"},
		{"remove chosen fields", &Hygiene{Action: RemoveEnvelopeFields, Fields: []string{"x-original-to", "TO"}},
			"Return-Path: <x@provider.example>\r\n" +
				"Delivered-To: domain-pop@provider.example\r\n" +
				"Subject: Delivered-To: stays\r\n" +
				"delivered-to : obsolete@example.com\r\n" +
				"\r\n" +
				"Delivered-To: in the body stays\r\n"},
		{"rename prefix", &Hygiene{Fields: []string{"Delivered-To"}, RenamePrefix: "X-Was-"},
			strings.NewReplacer("Delivered-To: domain", "X-Was-Delivered-To: domain", "delivered-to :", "X-Was-delivered-to :").Replace(msg)},
		{"keep", &Hygiene{Action: KeepEnvelopeFields}, msg},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, tt := range tests {
		for rn, wrap := range readers {
			t.Run(tt.name+"/"+rn, func(t *testing.T) {
				got, err := io.ReadAll(iotest.OneByteReader(tt.h.Reader(wrap(strings.NewReader(msg)))))
				require.NoError(t, err)
				assert.Equal(t, tt.want, string(got))
				lf := strings.ReplaceAll(msg, "\r\n", "\n")
				got, err = io.ReadAll(tt.h.Reader(wrap(strings.NewReader(lf))))
				require.NoError(t, err)
				assert.Equal(t, strings.ReplaceAll(tt.want, "\r\n", "\n"), string(got), "LF line endings")
			})
		}
	}
}

func TestHygieneReaderEdges(t *testing.T) {
	rm := &Hygiene{Action: RemoveEnvelopeFields}
	long := "X-Long-" + strings.Repeat("n", 10000) + ": v\r\n"
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"header only, no final newline", "To: a\r\nDelivered-To: b", "To: a\r\n"},
		{"long field name", long + "Delivered-To: b\r\n\r\nbody", long + "\r\nbody"},
		{"long value", "Delivered-To: " + strings.Repeat("v", 10000) + "\r\nTo: a\r\n\r\n", "To: a\r\n\r\n"},
		{"no header", "\r\nDelivered-To: b\r\n", "\r\nDelivered-To: b\r\n"},
		{"line without colon starts the body", "To: a\r\nnot a field\r\nDelivered-To: b\r\n", "To: a\r\nnot a field\r\nDelivered-To: b\r\n"},
		{"continuation of a kept field", "To: a,\r\n b\r\nDelivered-To: c\r\n d\r\n\r\n", "To: a,\r\n b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := io.ReadAll(rm.Reader(strings.NewReader(tt.in)))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestHygieneReaderPropagatesErrors(t *testing.T) {
	boom := io.ErrClosedPipe
	r := (&Hygiene{}).Reader(io.MultiReader(strings.NewReader("To: a\r\nDeliv"), iotest.ErrReader(boom)))
	_, err := io.ReadAll(r)
	assert.ErrorIs(t, err, boom)
}

func TestWrap(t *testing.T) {
	o := &TraceOptions{LocalHost: "mx", DeliveredTo: true, Hygiene: Hygiene{Action: RemoveEnvelopeFields},
		Now: func() time.Time { return traceTime }}
	r, err := o.Wrap(Envelope{Trace: Trace{Host: "pop.example"}}, []string{"a@b.example"},
		strings.NewReader("Delivered-To: pop@provider.example\r\nSubject: s\r\n\r\nbody\r\n"))
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "Delivered-To: a@b.example\r\n"+
		"Received: from pop.example by mx with POP3 for <a@b.example>;\r\n\tTue, 05 Mar 2024 07:08:09 -0500\r\n"+
		"Subject: s\r\n\r\nbody\r\n", string(got))

	_, err = (&TraceOptions{LocalHost: "mx", Hygiene: Hygiene{RenamePrefix: "X: "}}).Wrap(Envelope{}, []string{"a@b.example"}, strings.NewReader(""))
	assert.Error(t, err)
}

func TestPreludeDefaultLocalHost(t *testing.T) {
	got, err := (*TraceOptions)(nil).Prelude(Envelope{}, []string{"a@b.example"})
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(got, []byte("Received: by ")), string(got))
}

func BenchmarkHygieneReader(b *testing.B) {
	msg := []byte("Delivered-To: x@y.example\r\nSubject: s\r\n\r\n" + strings.Repeat("body line of text\r\n", 50000))
	h := &Hygiene{Action: RemoveEnvelopeFields}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, h.Reader(bytes.NewReader(msg))); err != nil {
			b.Fatal(err)
		}
	}
}

// The filter's read buffer serves only the header: once the body starts
// and the buffer is drained it goes back to the pool for the next message,
// and the body is read straight from the source.
func TestHygieneReaderReleasesBuffer(t *testing.T) {
	body := strings.Repeat("body line\r\n", 2000)
	msg := "Received: from a\r\nDelivered-To: x@example.com\r\nSubject: s\r\n\r\n" + body
	r := (&Hygiene{}).Reader(strings.NewReader(msg))
	f, ok := r.(*headerFilter)
	require.True(t, ok)
	var out bytes.Buffer
	p := make([]byte, 100)
	for f.r != nil {
		n, err := r.Read(p)
		require.NoError(t, err)
		out.Write(p[:n])
	}
	assert.Less(t, out.Len(), 2*4096, "the buffer was kept into the body")
	_, err := io.Copy(&out, r)
	require.NoError(t, err)
	assert.Equal(t, "Received: from a\r\nX-Original-Delivered-To: x@example.com\r\nSubject: s\r\n\r\n"+body, out.String())
}

// errOnce returns its data with an error, then io.EOF: a source whose
// errors are not sticky, as io.Reader allows.
type errOnce struct {
	data []byte
	done bool
}

func (e *errOnce) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	e.done = true
	return copy(p, e.data), errBroken
}

var errBroken = errors.New("broken source")

// An error that came with the last bytes of the header is not lost when
// the filter lets go of its buffer: a truncated message never reads as
// complete.
func TestHygieneReaderKeepsSourceError(t *testing.T) {
	body := strings.Repeat("truncated body ", 20) // longer than a field name's peek
	src := &errOnce{data: []byte("Delivered-To: a@x\r\nSubject: s\r\n\r\n" + body)}
	_, err := io.ReadAll((&Hygiene{Action: RemoveEnvelopeFields}).Reader(src))
	assert.ErrorIs(t, err, errBroken)
}
