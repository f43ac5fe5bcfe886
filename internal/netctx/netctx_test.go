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

func TestLimitBoundsADribble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		c.SetTimeouts(10*time.Second, 10*time.Second)
		c.SetLimit(time.Now().Add(25 * time.Second))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				time.Sleep(time.Second)
				if _, err := peer.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		var err error
		n := 0
		for err == nil {
			var k int
			k, err = c.Read(make([]byte, 1))
			n += k
		}
		require.ErrorIs(t, err, ErrLimit)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a limit is a timeout")
		assert.Less(t, n, 26)
		// Writes are bounded by the same limit.
		_, err = c.Write([]byte("y"))
		require.ErrorIs(t, err, ErrLimit)
		c.SetLimit(time.Time{})
		peer.Close()
		<-done
	})
}

func TestLimitBoundsAWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		c.SetTimeouts(0, time.Minute)
		c.SetLimit(time.Now().Add(5 * time.Second))
		_, err := c.Write([]byte("x")) // nobody reads the pipe
		require.ErrorIs(t, err, ErrLimit)
	})
}

func TestMinRate(t *testing.T) {
	tests := []struct {
		name    string
		every   time.Duration // one write of size per every
		size    int
		tooSlow bool
	}{
		{"one byte a second", time.Second, 1, true},
		{"just under the floor", time.Second, 99, true},
		{"above the floor", time.Second, 120, false},
		{"bursts above the floor", 5 * time.Second, 1000, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, peer := pipe(t)
				c.SetTimeouts(time.Minute, 0)
				c.SetMinRate(100, 10*time.Second)
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					buf := make([]byte, tc.size)
					for {
						select {
						case <-stop:
							return
						case <-time.After(tc.every):
						}
						if _, err := peer.Write(buf); err != nil {
							return
						}
					}
				}()
				var err error
				for end := time.Now().Add(2 * time.Minute); err == nil && time.Now().Before(end); {
					_, err = c.Read(make([]byte, 4096))
				}
				close(stop)
				if tc.tooSlow {
					require.ErrorIs(t, err, ErrTooSlow)
				} else {
					require.NoError(t, err)
				}
				c.SetMinRate(0, 0)
				peer.Close()
				<-done
			})
		})
	}
}

func TestMinRateSilencePastTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pipe(t)
		c.SetTimeouts(time.Hour, 0) // idle alone would wait an hour
		c.SetMinRate(1, 30*time.Second)
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, ErrTooSlow)
	})
}

// TestMinRateMeasuresThePeer: a reader that consumes slowly while the peer
// has data ready is not too slow; only time waiting in Read counts.
func TestMinRateMeasuresThePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, peer := pipe(t)
		c.SetTimeouts(time.Minute, 0)
		c.SetMinRate(1000, 10*time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			peer.Write(make([]byte, 60)) // ready at once, read a byte at a time
			peer.Close()
		}()
		n := 0
		for {
			k, err := c.Read(make([]byte, 1))
			n += k
			if err != nil {
				// net.Pipe refuses a deadline once the peer closed.
				require.NotErrorIs(t, err, ErrTooSlow)
				break
			}
			time.Sleep(time.Second) // a slow consumer: 1 byte/s
		}
		assert.Equal(t, 60, n)
		<-done
	})
}
