package instance

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
)

// Counts are the statements sent through a [CountingConnector].
type Counts struct {
	Queries atomic.Int64 // QueryContext and ExecContext calls
	Txs     atomic.Int64 // transactions begun
}

// Statements returns queries plus the BEGIN and COMMIT/ROLLBACK of each
// transaction: the round trips to the server.
func (c *Counts) Statements() int64 { return c.Queries.Load() + 2*c.Txs.Load() }

// CountingConnector wraps a driver.Connector and counts what its
// connections execute. The connections must implement QueryerContext,
// ExecerContext and ConnBeginTx (pgx's and modernc's do).
type CountingConnector struct {
	driver.Connector
	Counts *Counts
}

// Connect implements driver.Connector.
func (c *CountingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: c.Counts}, nil
}

var errNotSupported = errors.New("instance: the wrapped driver connection lacks a context method")

type countingConn struct {
	driver.Conn
	n *Counts
}

func (c *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, errNotSupported
	}
	c.n.Queries.Add(1)
	return qc.QueryContext(ctx, q, args)
}

func (c *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	ec, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, errNotSupported
	}
	c.n.Queries.Add(1)
	return ec.ExecContext(ctx, q, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	bc, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errNotSupported
	}
	c.n.Txs.Add(1)
	return bc.BeginTx(ctx, opts)
}

func (c *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *countingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}
