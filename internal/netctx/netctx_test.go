package netctx

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pipe(t *testing.T) (*Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return New(a), b
}

func TestReadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		c.SetTimeouts(30*time.Second, 0)
		start := time.Now()
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 30*time.Second, time.Since(start))
	})
}

func TestWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		c.SetTimeouts(0, 5*time.Second)
		_, err := c.Write([]byte("x")) // nobody reads the pipe
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	})
}

func TestIdleTimeoutRestartsPerRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		c.SetTimeouts(10*time.Second, 0)
		go func() {
			for range 3 {
				time.Sleep(8 * time.Second)
				peer.Write([]byte("x"))
			}
		}()
		for range 3 {
			_, err := c.Read(make([]byte, 1))
			require.NoError(t, err)
		}
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	})
}

func TestCancelWakesBlockedRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		c.Bind(ctx)
		cause := errors.New("shutting down")
		go func() {
			time.Sleep(time.Second)
			cancel(cause)
		}()
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, cause)
		_, err = c.Write([]byte("x"))
		require.ErrorIs(t, err, cause)

		// A fresh binding works again; the old context has no effect.
		c.Bind(context.Background())
		go peer.Write([]byte("y"))
		n, err := c.Read(make([]byte, 1))
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	})
}

func TestReleasedContextIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		ctx, cancel := context.WithCancel(context.Background())
		c.Bind(ctx)
		c.Release()
		cancel()
		synctest.Wait()
		go peer.Write([]byte("z"))
		_, err := c.Read(make([]byte, 1))
		require.NoError(t, err)
	})
}

func TestAlreadyDoneContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Bind(ctx)
		synctest.Wait()
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, context.Canceled)
	})
}
