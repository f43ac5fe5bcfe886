package multidrop_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// barrierDeliverer holds every delivery until n are in progress at once
// (or a deadline passes, so that a sequential pipeline fails instead of
// hanging), then lets them all through.
type barrierDeliverer struct {
	inner   deliver.Deliverer
	n       int
	mu      sync.Mutex
	now     int // deliveries in progress
	max     int
	reached chan struct{}
}

func (b *barrierDeliverer) Deliver(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
	b.mu.Lock()
	b.now++
	b.max = max(b.max, b.now)
	if b.now == b.n {
		close(b.reached)
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.now--
		b.mu.Unlock()
	}()
	select {
	case <-b.reached:
	case <-time.After(10 * time.Second):
	}
	return b.inner.Deliver(ctx, env, m)
}

// Messages are finished in the background while the next ones download:
// with DeliveryConcurrency n, n deliveries are in progress at once, and no
// DELE is sent before every one of them is final.
func TestDeliveriesOverlapDownload(t *testing.T) {
	const n = 6
	srv := &poptest.Server{}
	var msgs []poptest.Message
	for i := range n {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprintf("u%d", i+1),
			Data: msg("hi", fmt.Sprintf("Message-ID: <m%d@x>", i+1), "From: x@remote.test", "To: alice@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	b := &barrierDeliverer{n: n, reached: make(chan struct{})}
	e := newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		b.inner = e.dlv
		o.Deliverer = b
		o.DeliveryConcurrency = n
	})
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, n, b.max, "every delivery was in progress at once")
	assert.Equal(t, n, r.Delivered)
	assert.Equal(t, n, r.Deleted)
	assert.Empty(t, srv.Mailbox(popUser))
	var numbers []int
	for _, m := range r.Messages {
		numbers = append(numbers, m.Number)
		assert.Equal(t, pop.Delete, m.Action, "message %d", m.Number)
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, numbers, "the report keeps the order of the session")

	var verbs []string
	for _, c := range srv.Transcript() {
		verbs = append(verbs, c.Name)
	}
	firstDele := slices.Index(verbs, "DELE")
	require.Positive(t, firstDele)
	assert.NotContains(t, verbs[firstDele:], "RETR", "every RETR before the first DELE")
}

// Copies of one message to one recipient are finished in the order they
// were handled, one after the other, even in parallel: the first copy
// delivers, the later ones find it in the journal.
func TestCopiesAreFinishedInOrder(t *testing.T) {
	for _, conc := range []int{1, 8} {
		t.Run(fmt.Sprint("concurrency ", conc), func(t *testing.T) {
			m := msg("hi", "Message-ID: <same@x>", "From: x@remote.test", "To: alice@example.com, bob@example.com")
			other := msg("other", "Message-ID: <other@x>", "From: x@remote.test", "To: carol@example.com")
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "c1", Data: m}, poptest.Message{UID: "o1", Data: other},
				poptest.Message{UID: "c2", Data: m}, poptest.Message{UID: "c3", Data: m})
			e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) { o.DeliveryConcurrency = conc })
			r := e.check()
			require.NoError(t, r.Err)
			assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
			require.Len(t, r.Messages, 4)
			assert.Len(t, r.Messages[0].Results, 2, "the first copy delivers")
			for _, i := range []int{2, 3} {
				assert.Empty(t, r.Messages[i].Results, "copy %d", i)
				assert.Equal(t, []string{"alice@example.com", "bob@example.com"}, r.Messages[i].Already, "copy %d", i)
				assert.Equal(t, pop.Delete, r.Messages[i].Action)
			}
			assert.Empty(t, srv.Mailbox(popUser))
		})
	}
}

// A message whose wait for a delivery slot ends with the check's context
// is kept, and its report still carries its digest.
func TestCancelledWhileWaitingForASlot(t *testing.T) {
	srv := &poptest.Server{}
	var msgs []poptest.Message
	for i, rcpt := range []string{"alice", "alice", "carol"} {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprintf("u%d", i+1),
			Data: msg("hi", fmt.Sprintf("Message-ID: <m%d@x>", i+1), "To: "+rcpt+"@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{}, 2)
	e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
		o.DeliveryConcurrency = 2
		o.Deliverer = deliver.Func(func(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
			started <- struct{}{}
			<-ctx.Done() // both slots stay taken until the check is cancelled
			return nil, ctx.Err()
		})
		// Message 3 is resolved with both slots taken: the check is
		// cancelled then, before it asks for a slot.
		o.Resolver = resolve.New(resolve.DirectoryFunc(func(_ context.Context, domain, local string) ([]string, error) {
			if local == "carol" {
				<-started
				<-started
				cancel()
			}
			return []string{local + "@" + domain}, nil
		}), nil)
	})
	r, _ := e.p.Check(ctx, e.acct.ID)
	require.NotNil(t, r)
	require.Len(t, r.Messages, 3)
	for _, m := range r.Messages {
		assert.Equal(t, pop.Keep, m.Action, "message %d", m.Number)
		assert.Regexp(t, "^sha256:[0-9a-f]{64}$", m.Digest, "message %d (%s)", m.Number, m.Reason)
	}
	assert.Equal(t, "deliver failed", r.Messages[2].Reason)
	assert.Zero(t, r.Deleted)
	assert.Len(t, srv.Mailbox(popUser), 3)
}
