package deliver_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
)

const routeMsg = "Subject: routed\r\n\r\nbody\r\n"

func TestRoute(t *testing.T) {
	local, lmtp, vip, picked := &delivertest.Deliverer{}, &delivertest.Deliverer{}, &delivertest.Deliverer{}, &delivertest.Deliverer{}
	r := deliver.NewRoute(&deliver.RouteOptions{
		Select: func(rcpt string) deliver.Deliverer {
			if strings.HasPrefix(rcpt, "pick") {
				return picked
			}
			return nil
		},
		Addresses: map[string]deliver.Deliverer{"Boss@Example.com": vip},
		Domains:   map[string]deliver.Deliverer{"example.com": local, "Other.Example": lmtp},
	})
	to := []string{"a@example.com", "x@other.example", "boss@example.com", "nobody@elsewhere.example", "b@EXAMPLE.COM", "pick@elsewhere.example"}
	// A plain stream read by three deliverers: Route spools it.
	res, err := r.Deliver(t.Context(), deliver.Envelope{From: "s@example.org", To: to, Trace: deliver.Trace{Key: "K1"}},
		iotest.OneByteReader(strings.NewReader(routeMsg)))
	require.NoError(t, err)
	require.Len(t, res, len(to))
	want := []deliver.Status{deliver.Delivered, deliver.Delivered, deliver.Delivered, deliver.Permanent, deliver.Delivered, deliver.Delivered}
	for i := range to {
		assert.Equal(t, to[i], res[i].Recipient, "envelope order")
		assert.Equal(t, want[i], res[i].Status, to[i])
	}
	assert.ErrorIs(t, res[3].Err, deliver.ErrNoRoute)
	assert.False(t, deliver.IsTemporary(res[3].Err))
	assert.Contains(t, res[3].Err.Error(), "nobody@elsewhere.example")

	// One call per deliverer, with its recipients in envelope order and
	// the whole message each time.
	for _, tc := range []struct {
		d  *delivertest.Deliverer
		to []string
	}{
		{local, []string{"a@example.com", "b@EXAMPLE.COM"}},
		{lmtp, []string{"x@other.example"}},
		{vip, []string{"boss@example.com"}},
		{picked, []string{"pick@elsewhere.example"}},
	} {
		dl := tc.d.Deliveries()
		require.Len(t, dl, 1)
		assert.Equal(t, tc.to, dl[0].Envelope.To)
		assert.Equal(t, "s@example.org", dl[0].Envelope.From)
		assert.Equal(t, "K1", dl[0].Envelope.Trace.Key)
		assert.Equal(t, routeMsg, string(dl[0].Data))
	}
}

func TestRouteFailures(t *testing.T) {
	good, bad, partial := &delivertest.Deliverer{}, &delivertest.Deliverer{}, &delivertest.Deliverer{}
	boom := errors.New("lmtp: connection refused")
	bad.FailCall(delivertest.Fault{Err: boom})
	partial.Fail("p2@p.example", delivertest.Fault{Status: deliver.Permanent})
	// A deliverer that answers for only one of its two recipients.
	forgetful := deliver.Func(func(_ context.Context, env deliver.Envelope, msg io.Reader) (deliver.Results, error) {
		_, _ = io.Copy(io.Discard, msg)
		return deliver.Results{{Recipient: env.To[1], Status: deliver.Delivered}}, nil
	})
	r := deliver.NewRoute(&deliver.RouteOptions{
		Domains: map[string]deliver.Deliverer{"bad.example": bad, "p.example": partial, "f.example": forgetful},
		Default: good,
	})
	to := []string{"g@good.example", "b@bad.example", "p1@p.example", "p2@p.example", "f1@f.example", "f2@f.example"}
	res, err := r.Deliver(t.Context(), deliver.Envelope{To: to}, bytes.NewReader([]byte(routeMsg)))
	require.ErrorIs(t, err, boom, "the group's error is returned, the others still delivered")
	want := []deliver.Status{deliver.Delivered, deliver.Temporary, deliver.Delivered, deliver.Permanent, deliver.Temporary, deliver.Delivered}
	for i := range to {
		assert.Equal(t, want[i], res[i].Status, to[i])
		if want[i] != deliver.Delivered {
			assert.Error(t, res[i].Err, to[i])
		}
	}
	assert.ErrorIs(t, res[1].Err, boom)
	assert.Len(t, good.Delivered("g@good.example"), 1)
}

func TestRouteRereadsWithoutSpool(t *testing.T) {
	// A message that is an io.ReaderAt is read in place from its current
	// position, not copied; an *os.File too.
	f, err := os.CreateTemp(t.TempDir(), "msg")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("SKIPPED" + routeMsg)
	require.NoError(t, err)
	_, err = f.Seek(7, io.SeekStart)
	require.NoError(t, err)

	a, b := &delivertest.Deliverer{}, &delivertest.Deliverer{}
	r := deliver.NewRoute(&deliver.RouteOptions{
		Domains:  map[string]deliver.Deliverer{"a.example": a, "b.example": b},
		SpoolDir: "/nonexistent", // a spool file would fail
	})
	res, err := r.Deliver(t.Context(), deliver.Envelope{To: []string{"x@a.example", "y@b.example"}}, f)
	require.NoError(t, err)
	for _, rr := range res {
		assert.Equal(t, deliver.Delivered, rr.Status)
	}
	assert.Equal(t, routeMsg, string(a.Deliveries()[0].Data))
	assert.Equal(t, routeMsg, string(b.Deliveries()[0].Data))

	// A stream that must be spooled where spooling fails: all temporary.
	big := routeMsg + strings.Repeat("x", 2<<20)
	res, err = r.Deliver(t.Context(), deliver.Envelope{To: []string{"x@a.example", "y@b.example"}}, iotest.HalfReader(strings.NewReader(big)))
	require.Error(t, err)
	for _, rr := range res {
		assert.Equal(t, deliver.Temporary, rr.Status)
		assert.True(t, deliver.IsTemporary(rr.Err))
	}
}

func TestRouteCancelled(t *testing.T) {
	a, b := &delivertest.Deliverer{}, &delivertest.Deliverer{}
	ctx, cancel := context.WithCancel(t.Context())
	// The first group cancels the context: the second is not attempted.
	first := deliver.Func(func(ctx context.Context, env deliver.Envelope, msg io.Reader) (deliver.Results, error) {
		cancel()
		return a.Deliver(ctx, env, msg)
	})
	r := deliver.NewRoute(&deliver.RouteOptions{Domains: map[string]deliver.Deliverer{"a.example": first, "b.example": b}})
	res, err := r.Deliver(ctx, deliver.Envelope{To: []string{"x@a.example", "y@b.example"}}, strings.NewReader(routeMsg))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, deliver.Delivered, res[0].Status)
	assert.Equal(t, deliver.Temporary, res[1].Status)
	assert.Zero(t, b.Calls())
}
