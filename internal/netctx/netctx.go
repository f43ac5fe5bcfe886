// Package netctx bridges a context.Context to a net.Conn's deadlines.
//
// A [Conn] wraps a connection so that every Read and Write carries a deadline
// computed from a per-operation idle timeout, an absolute limit
// ([Conn.SetLimit]) and, for reads, a minimum transfer rate
// ([Conn.SetMinRate]), and fails promptly once the context bound with
// [Conn.Bind] is done. The idle timeout alone restarts with every read, so a
// peer that sends one byte now and then never trips it; the limit and the
// rate are what bound a whole reply. Binding uses [context.AfterFunc], so no
// goroutine is started per call.
package netctx

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutError is a net.Error that times out and matches
// os.ErrDeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Timeout() bool        { return true }
func (e *timeoutError) Temporary() bool      { return false }
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

var (
	// ErrLimit is returned by a Read or Write that would end past the limit
	// set with [Conn.SetLimit].
	ErrLimit error = &timeoutError{"netctx: time limit reached"}
	// ErrTooSlow is returned by a Read once a rate window ended with fewer
	// bytes read than [Conn.SetMinRate] asks for.
	ErrTooSlow error = &timeoutError{"netctx: transfer below the minimum rate"}
)

// Conn is a net.Conn whose reads and writes are bounded by timeouts and by a
// bound context. Only one goroutine may read and one may write at a time, as
// for any net.Conn; Bind and the timeout setters must not race with Read and
// Write.
type Conn struct {
	net.Conn

	readTimeout  time.Duration
	writeTimeout time.Duration
	limit        time.Time // absolute bound of reads and writes; zero: none

	minRate   int64         // bytes per second; 0: no floor
	window    time.Duration // rate measurement window, of time spent in Read
	winWaited time.Duration // time spent in Read in this window
	winBytes  int64

	mu   sync.Mutex // guards ctx, stop and gen against the AfterFunc callback
	ctx  context.Context
	stop func() bool
	gen  uint64
	done atomic.Bool // the bound context is done
}

// New wraps c. Without a bound context and with zero timeouts it behaves
// like c with no deadline.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// SetTimeouts sets the idle timeouts applied to each following Read and
// Write; zero means no deadline.
func (c *Conn) SetTimeouts(read, write time.Duration) {
	c.readTimeout, c.writeTimeout = read, write
}

// SetReadTimeout sets the idle timeout of each following Read.
func (c *Conn) SetReadTimeout(d time.Duration) { c.readTimeout = d }

// SetLimit sets an absolute bound for the following reads and writes,
// whatever their idle timeouts: one that would wait past t fails with
// [ErrLimit]. The zero time removes the bound.
func (c *Conn) SetLimit(t time.Time) { c.limit = t }

// SetMinRate makes the following reads fail with [ErrTooSlow] once a window
// of length window ends with fewer than rate*window bytes read in it
// (rate in bytes per second). The window counts only the time spent
// waiting inside Read, so it measures the peer: a reader that consumes
// slowly, or stops reading for a while, is never too slow. Each call
// starts a new window; a rate or window <= 0 removes the floor. Bytes
// already buffered above the Conn do not count.
func (c *Conn) SetMinRate(rate int64, window time.Duration) {
	if rate <= 0 || window <= 0 {
		c.minRate, c.window = 0, 0
		return
	}
	c.minRate, c.window = rate, window
	c.winWaited, c.winBytes = 0, 0
}

// rateDue is the number of bytes a full window must carry.
func (c *Conn) rateDue() int64 {
	return int64(float64(c.minRate) * c.window.Seconds())
}

// Bind makes ctx govern the following reads and writes, replacing the
// previously bound context: once ctx is done, a blocked Read or Write returns
// and every later one fails with the context's cause until the next Bind.
func (c *Conn) Bind(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.gen++
	c.ctx = ctx
	c.done.Store(false)
	if ctx.Done() == nil {
		return
	}
	gen := c.gen
	c.stop = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen {
			return
		}
		c.done.Store(true)
		// Wake any blocked Read or Write; they reset their own deadline
		// first and check done afterwards, so this cannot be lost.
		_ = c.Conn.SetDeadline(time.Unix(1, 0))
	})
}

// Release unbinds the current context, if any.
func (c *Conn) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.gen++
	c.ctx = nil
	c.done.Store(false)
}

func (c *Conn) ctxErr() error {
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	if ctx == nil {
		return context.Canceled
	}
	return context.Cause(ctx)
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// deadline kinds, in order of precedence on a tie
const (
	byIdle = iota
	byLimit
	byWindow
)

// readDeadline returns the earliest of the idle deadline, the limit and the
// end of the rate window, and which it is.
func (c *Conn) readDeadline(now time.Time) (time.Time, int) {
	dl, kind := time.Time{}, byIdle
	if c.readTimeout > 0 {
		dl = now.Add(c.readTimeout)
	}
	if !c.limit.IsZero() && (dl.IsZero() || !dl.Before(c.limit)) {
		dl, kind = c.limit, byLimit
	}
	if c.minRate > 0 {
		if end := now.Add(c.window - c.winWaited); dl.IsZero() || end.Before(dl) {
			dl, kind = end, byWindow
		}
	}
	return dl, kind
}

// Read reads with the earliest of the read timeout, the limit and the end
// of the rate window as deadline, failing with the bound context's cause
// once it is done, [ErrLimit] past the limit and [ErrTooSlow] below the
// minimum rate. An idle timeout is the connection's own timeout error.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.done.Load() {
			return 0, c.ctxErr()
		}
		if c.minRate > 0 && c.winWaited >= c.window {
			if c.winBytes < c.rateDue() {
				return 0, ErrTooSlow
			}
			c.winWaited, c.winBytes = 0, 0
		}
		now := time.Now()
		if !c.limit.IsZero() && !now.Before(c.limit) {
			return 0, ErrLimit
		}
		dl, kind := c.readDeadline(now)
		if err := c.Conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		if c.done.Load() {
			return 0, c.ctxErr()
		}
		n, err := c.Conn.Read(p)
		c.winBytes += int64(n)
		if c.minRate > 0 {
			c.winWaited += time.Since(now)
		}
		if err == nil {
			return n, nil
		}
		if c.done.Load() {
			return n, c.ctxErr()
		}
		if n > 0 || !isTimeout(err) {
			return n, err
		}
		switch kind {
		case byLimit:
			return 0, ErrLimit
		case byWindow:
			continue // judged at the top
		}
		return 0, err
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout() || os.IsTimeout(err)
}

// Write writes with the earlier of the write timeout and the limit as
// deadline ([ErrLimit] past the limit), failing with the bound
// context's cause once it is done.
func (c *Conn) Write(p []byte) (int, error) {
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	dl, byLim := deadline(c.writeTimeout), false
	if !c.limit.IsZero() && (dl.IsZero() || !dl.Before(c.limit)) {
		if !time.Now().Before(c.limit) {
			return 0, ErrLimit
		}
		dl, byLim = c.limit, true
	}
	if err := c.Conn.SetWriteDeadline(dl); err != nil {
		return 0, err
	}
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	n, err := c.Conn.Write(p)
	switch {
	case err == nil:
	case c.done.Load():
		err = c.ctxErr()
	case byLim && isTimeout(err):
		err = ErrLimit
	}
	return n, err
}

// Close releases the bound context and closes the connection.
func (c *Conn) Close() error {
	c.Release()
	return c.Conn.Close()
}
