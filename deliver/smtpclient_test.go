package deliver

import (
	"context"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCtxConnDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		c := newCtxConn(ctx, a, 3*time.Minute)
		defer c.Close()

		// No deadline from go-smtp (it is writing message data): each Write
		// gets the data-block timeout.
		start := time.Now()
		_, err := c.Write([]byte("x"))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 3*time.Minute, time.Since(start))

		// go-smtp's own deadline is shortened to the context's.
		start = time.Now()
		require.NoError(t, c.SetDeadline(start.Add(10*time.Hour)))
		_, err = c.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, time.Hour-3*time.Minute, time.Since(start))

		// The cap bounds it too.
		ctx2, cancel2 := context.WithCancel(t.Context())
		a2, b2 := net.Pipe()
		defer b2.Close()
		c2 := newCtxConn(ctx2, a2, 0)
		defer c2.Close()
		c2.setCap(time.Minute)
		start = time.Now()
		require.NoError(t, c2.SetDeadline(start.Add(5*time.Minute)))
		_, err = c2.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, time.Minute, time.Since(start))
		c2.setCap(0)

		// Cancelling the context ends a blocked Read at once, and a later
		// SetDeadline cannot revive the connection.
		require.NoError(t, c2.SetDeadline(time.Time{}))
		go func() {
			time.Sleep(30 * time.Second)
			cancel2()
		}()
		start = time.Now()
		_, err = c2.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 30*time.Second, time.Since(start))
		require.NoError(t, c2.SetDeadline(time.Now().Add(time.Hour)))
		_, err = c2.Write([]byte("x"))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 30*time.Second, time.Since(start))
	})
}
