// Package netctx bridges a context.Context to a net.Conn's deadlines.
//
// A [Conn] wraps a connection so that every Read and Write carries a deadline
// computed from a per-operation idle timeout, and fails promptly once the
// context bound with [Conn.Bind] is done. Binding uses [context.AfterFunc], so
// no goroutine is started per call.
package netctx

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a net.Conn whose reads and writes are bounded by timeouts and by a
// bound context. Only one goroutine may read and one may write at a time, as
// for any net.Conn; Bind and the timeout setters must not race with Read and
// Write.
type Conn struct {
	net.Conn

	readTimeout  time.Duration
	writeTimeout time.Duration

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

// Read reads with the read timeout as deadline, failing with the bound
// context's cause once it is done.
func (c *Conn) Read(p []byte) (int, error) {
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	if err := c.Conn.SetReadDeadline(deadline(c.readTimeout)); err != nil {
		return 0, err
	}
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.done.Load() {
		err = c.ctxErr()
	}
	return n, err
}

// Write writes with the write timeout as deadline, failing with the bound
// context's cause once it is done.
func (c *Conn) Write(p []byte) (int, error) {
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	if err := c.Conn.SetWriteDeadline(deadline(c.writeTimeout)); err != nil {
		return 0, err
	}
	if c.done.Load() {
		return 0, c.ctxErr()
	}
	n, err := c.Conn.Write(p)
	if err != nil && c.done.Load() {
		err = c.ctxErr()
	}
	return n, err
}

// Close releases the bound context and closes the connection.
func (c *Conn) Close() error {
	c.Release()
	return c.Conn.Close()
}
