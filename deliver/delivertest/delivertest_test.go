package delivertest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/deliver"
)

func TestDelivererRecords(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &Deliverer{Now: func() time.Time { return at }}
	env := deliver.Envelope{From: "s@x.example", To: []string{"a@example.com", "b@example.com"}, Trace: deliver.Trace{Key: "K"}}
	res, err := d.Deliver(t.Context(), env, strings.NewReader("msg one"))
	require.NoError(t, err)
	assert.Equal(t, deliver.Results{{Recipient: "a@example.com", Status: deliver.Delivered}, {Recipient: "b@example.com", Status: deliver.Delivered}}, res)
	env.To[0] = "changed@example.com" // the record is a copy
	_, err = d.Deliver(t.Context(), deliver.Envelope{To: []string{"a@example.com"}}, strings.NewReader("msg two"))
	require.NoError(t, err)

	assert.Equal(t, 2, d.Calls())
	dl := d.Deliveries()
	require.Len(t, dl, 2)
	assert.Equal(t, []string{"a@example.com", "b@example.com"}, dl[0].Envelope.To)
	assert.Equal(t, "msg one", string(dl[0].Data))
	assert.Equal(t, at, dl[0].Time)
	assert.Equal(t, [][]byte{[]byte("msg one"), []byte("msg two")}, d.Delivered("a@example.com"))
	assert.Equal(t, [][]byte{[]byte("msg one")}, d.Delivered("b@example.com"))
	d.Reset()
	assert.Zero(t, d.Calls())
}

func TestDelivererFaults(t *testing.T) {
	custom := errors.New("quota exceeded")
	tests := []struct {
		name  string
		fault Fault
		msg   string
		want  []deliver.Status // for three calls
		err   error
	}{
		{"temporary always", Fault{}, "m", []deliver.Status{deliver.Temporary, deliver.Temporary, deliver.Temporary}, nil},
		{"permanent", Fault{Status: deliver.Permanent}, "m", []deliver.Status{deliver.Permanent, deliver.Permanent, deliver.Permanent}, nil},
		{"temporary once", Fault{Times: 1}, "m", []deliver.Status{deliver.Temporary, deliver.Delivered, deliver.Delivered}, nil},
		{"twice with own error", Fault{Times: 2, Err: custom}, "m", []deliver.Status{deliver.Temporary, deliver.Temporary, deliver.Delivered}, custom},
		{"quota: small message passes", Fault{AfterBytes: 10}, "small", []deliver.Status{deliver.Delivered, deliver.Delivered, deliver.Delivered}, nil},
		{"quota: large message fails", Fault{AfterBytes: 10}, "a larger message", []deliver.Status{deliver.Temporary, deliver.Temporary, deliver.Temporary}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deliverer{}
			d.Fail("bad@example.com", tc.fault)
			for call, want := range tc.want {
				res, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"ok@example.com", "bad@example.com"}}, strings.NewReader(tc.msg))
				require.NoError(t, err)
				assert.Equal(t, deliver.Delivered, res[0].Status)
				assert.Equal(t, want, res[1].Status, "call %d", call)
				if want == deliver.Delivered {
					assert.NoError(t, res[1].Err)
					continue
				}
				require.Error(t, res[1].Err)
				assert.Equal(t, want == deliver.Temporary, deliver.IsTemporary(res[1].Err))
				if tc.err != nil {
					assert.ErrorIs(t, res[1].Err, tc.err)
				}
			}
			d.Clear()
			res, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"bad@example.com"}}, strings.NewReader(tc.msg))
			require.NoError(t, err)
			assert.Equal(t, deliver.Delivered, res[0].Status)
		})
	}
}

func TestDelivererCallFaults(t *testing.T) {
	t.Run("whole call", func(t *testing.T) {
		d := &Deliverer{}
		d.FailCall(Fault{Times: 1})
		res, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"a@example.com"}}, strings.NewReader("m"))
		require.Error(t, err)
		assert.True(t, deliver.IsTemporary(err))
		assert.Equal(t, deliver.Temporary, res[0].Status)
		res, err = d.Deliver(t.Context(), deliver.Envelope{To: []string{"a@example.com"}}, strings.NewReader("m"))
		require.NoError(t, err)
		assert.Equal(t, deliver.Delivered, res[0].Status)
	})
	t.Run("after bytes", func(t *testing.T) {
		d := &Deliverer{}
		d.FailCall(Fault{AfterBytes: 4})
		msg := strings.NewReader("0123456789")
		res, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"a@example.com"}}, msg)
		require.ErrorContains(t, err, "connection lost after 4 bytes")
		assert.Equal(t, deliver.Temporary, res[0].Status)
		assert.Equal(t, "0123", string(d.Deliveries()[0].Data))
		assert.Equal(t, 6, msg.Len(), "the rest is left unread")
		assert.Empty(t, d.Delivered("a@example.com"))
	})
}

func TestDelivererDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &Deliverer{}
		d.Fail("slow@example.com", Fault{Status: deliver.Delivered, Delay: time.Minute})
		start := time.Now()
		res, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"slow@example.com"}}, strings.NewReader("m"))
		require.NoError(t, err)
		assert.Equal(t, deliver.Delivered, res[0].Status)
		assert.Equal(t, time.Minute, time.Since(start))

		// The context ends the wait.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start = time.Now()
		res, err = d.Deliver(ctx, deliver.Envelope{To: []string{"slow@example.com"}}, strings.NewReader("m"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, deliver.Temporary, res[0].Status)
		assert.Equal(t, 10*time.Second, time.Since(start))
	})
}

func TestDelivererConcurrent(t *testing.T) {
	d := &Deliverer{}
	d.Fail("x@example.com", Fault{Times: 50})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				_, err := d.Deliver(t.Context(), deliver.Envelope{To: []string{"x@example.com"}}, strings.NewReader("m"))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 200, d.Calls())
	assert.Len(t, d.Delivered("x@example.com"), 150, "exactly Times failures")
}

func TestCorpus(t *testing.T) {
	c := NewCorpus(2000, 2<<10, 1<<20, 100<<20, 1)
	assert.Equal(t, 2000, c.Len())
	assert.InDelta(t, float64(100<<20), float64(c.Total()), float64(2<<20))
	var buf []byte
	for i := range c.Len() {
		s := c.Size(i)
		require.GreaterOrEqual(t, s, 2<<10)
		require.LessOrEqual(t, s, 1<<20)
		if i%97 != 0 {
			continue
		}
		buf = c.Append(buf[:0], i)
		require.Len(t, buf, s, "message %d", i)
		assert.True(t, bytes.HasSuffix(buf, []byte("\r\n")))
		assert.Equal(t, bytes.Count(buf, []byte("\n")), bytes.Count(buf, []byte("\r\n")), "CRLF only")
		assert.Equal(t, bytes.Count(buf, []byte("\r")), bytes.Count(buf, []byte("\r\n")), "CRLF only")
	}
	assert.Equal(t, c.Message(5), NewCorpus(2000, 2<<10, 1<<20, 100<<20, 1).Message(5), "reproducible")
}
