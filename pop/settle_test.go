package pop

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// settler defers every message, and settles them with decide, counting
// what was handled before Settle.
type settler struct {
	mu       sync.Mutex
	handled  []int
	settles  int
	atSettle []int // handled when Settle was called
	stopAt   int   // return ErrStop with the message of this number
	decide   map[int]Action
	err      error
}

func (s *settler) Handle(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return Keep, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handled = append(s.handled, m.Number)
	if m.Number == s.stopAt {
		return Defer, ErrStop
	}
	return Defer, nil
}

func (s *settler) Settle(ctx context.Context) (map[int]Action, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settles++
	s.atSettle = slices.Clone(s.handled)
	return s.decide, s.err
}

func TestFetchSettles(t *testing.T) {
	five := messages([]byte("Subject: 1\r\n\r\none\r\n"), []byte("Subject: 2\r\n\r\ntwo\r\n"),
		[]byte("Subject: 3\r\n\r\nthree\r\n"), []byte("Subject: 4\r\n\r\nfour\r\n"), []byte("Subject: 5\r\n\r\nfive\r\n"))
	tests := []struct {
		name     string
		h        *settler
		wantLeft []string
		wantErr  error
		handled  []int
	}{
		{name: "settled deletions are sent after every RETR",
			h:        &settler{decide: map[int]Action{1: Delete, 2: Keep, 3: Delete, 5: Delete}},
			wantLeft: []string{"uid-2", "uid-4"}, handled: []int{1, 2, 3, 4, 5}},
		{name: "a Settle error keeps what it did not settle",
			h:        &settler{decide: map[int]Action{4: Delete}, err: errors.New("journal down")},
			wantLeft: []string{"uid-1", "uid-2", "uid-3", "uid-5"}, wantErr: errors.New("journal down"), handled: []int{1, 2, 3, 4, 5}},
		{name: "only deferred messages are deleted",
			h:        &settler{stopAt: 2, decide: map[int]Action{1: Delete, 2: Delete, 3: Delete, 4: Delete, 5: Delete}},
			wantLeft: []string{"uid-3", "uid-4", "uid-5"}, handled: []int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &poptest.Server{}, five...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
			err := (&Downloader{}).Fetch(t.Context(), a, tc.h)
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr.Error())
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, 1, tc.h.settles, "Settle is called once")
			assert.Equal(t, tc.handled, tc.h.atSettle, "Settle comes after the last Handle")
			var left []string
			for _, m := range s.Mailbox(testUser) {
				left = append(left, m.UID)
			}
			assert.Equal(t, tc.wantLeft, left)
			// No DELE before the last RETR.
			v := verbs(s)
			lastRetr := slices.Index(v, "RETR")
			for i, x := range v {
				if x == "RETR" {
					lastRetr = i
				}
			}
			if i := slices.Index(v, "DELE"); i >= 0 {
				assert.Greater(t, i, lastRetr, "DELE after RETR: %s", strings.Join(v, " "))
			}
			assertConnsClosed(t)
		})
	}
}

func TestDeferWithoutSettling(t *testing.T) {
	s := startServer(t, &poptest.Server{}, messages([]byte("Subject: 1\r\n\r\none\r\n"))...)
	a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
	h := &settler{decide: map[int]Action{1: Delete}}
	// Only the Handle method: the Settler behind it is hidden.
	err := (&Downloader{}).Fetch(t.Context(), a, HandlerFunc(h.Handle))
	require.ErrorIs(t, err, errNoSettle)
	var me *HandlerError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, 1, me.Message.Number)
	assert.Zero(t, h.settles, "a plain Handler is not settled")
	assert.Len(t, s.Mailbox(testUser), 1, "a deferred message is kept")
	assert.False(t, sentAny(s, "DELE"))
	assertConnsClosed(t)
}
