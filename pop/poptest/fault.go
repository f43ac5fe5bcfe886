package poptest

import (
	"net"
	"strings"
	"sync"
	"time"
)

// FaultKind says what a [Fault] does.
type FaultKind int

const (
	// Drop closes the connection when Command arrives, without a reply.
	Drop FaultKind = iota + 1
	// DropAfter closes the connection right after the reply to Command.
	DropAfter
	// Stall stops answering when Command arrives, for Duration (zero:
	// until the server is closed), then goes on normally.
	Stall
	// Reply sends Text instead of the normal reply; the command is not
	// executed. Text not ending in "\n" gets CRLF appended. At GREETING, a
	// Text starting with "-ERR" also ends the session.
	Reply
	// Inject writes Text, unsolicited, right after the reply to Command
	// (at STLS: after "+OK", in plaintext, before the TLS handshake).
	Inject
	// DropAfterBytes closes the connection once the server has written
	// Bytes bytes (TLS payload, not records) in the session; the last
	// write is cut at that count. Command and Arg are ignored.
	DropAfterBytes
	// Dribble writes the whole reply to Command (status line, listing or
	// message) one byte every Duration (zero: every second), after its
	// first Bytes bytes, which go out at once: a server that keeps a
	// client waiting without ever being idle. Bytes beyond the status line
	// dribble a listing or a body. It ends when the client hangs up or
	// the server is closed.
	Dribble
)

// A Fault changes the server's behaviour at one point of a session. Faults
// compose: for each command, every matching fault applies in this order:
// Stall and Drop before the reply, Reply instead of the reply, then Inject
// and DropAfter.
type Fault struct {
	Kind FaultKind
	// Session is the 1-based session number the fault applies to; zero
	// means every session.
	Session int
	// User, when not empty, restricts the fault to commands of a session
	// logged in as User; PASS and APOP match the user trying to log in.
	// (AUTH cannot match before its exchange names the user.)
	User string
	// Command is the command verb it applies to (case-insensitive), or
	// "GREETING" for the moment the connection is accepted.
	Command string
	// Arg, when not empty, restricts the fault to a command whose
	// arguments (the rest of the line after the verb and one space) equal
	// Arg, e.g. "2" for "RETR 2".
	Arg string
	// Text is the reply (Reply) or the unsolicited bytes (Inject).
	Text string
	// Duration is how long Stall lasts; zero stalls until Close. A stalled
	// session keeps its mailbox locked, even if the client hangs up.
	Duration time.Duration
	// Bytes is the write budget of DropAfterBytes, and the bytes Dribble
	// sends at once before it slows down.
	Bytes int64
}

// ErrReply returns a Reply fault for command with "-ERR [code] text" (code
// may be empty), e.g. ErrReply("PASS", "IN-USE", "mailbox locked").
func ErrReply(command, code, text string) Fault {
	line := "-ERR "
	if code != "" {
		line += "[" + code + "] "
	}
	return Fault{Kind: Reply, Command: command, Text: line + text}
}

func (f Fault) matches(session int, user, verb, args string) bool {
	if f.Session != 0 && f.Session != session {
		return false
	}
	if f.User != "" && f.User != user {
		return false
	}
	if f.Kind == DropAfterBytes || !strings.EqualFold(f.Command, verb) {
		return false
	}
	return f.Arg == "" || f.Arg == args
}

// limitWriter counts the bytes written to a connection and closes it once
// the budget is spent.
type limitWriter struct {
	mu      sync.Mutex
	conn    net.Conn // current connection (raw or TLS)
	raw     net.Conn
	written int64
	limit   int64 // < 0: none
	idle    time.Duration

	// dribble, when set, slows the writes of the current reply down.
	dribble *dribble
}

// dribble is the state of a Dribble fault for one reply.
type dribble struct {
	fast  int64 // bytes still to write at once
	every time.Duration
	done  <-chan struct{}
}

// write writes p one byte every d.every once d.fast is spent.
func (d *dribble) write(w func([]byte) (int, error), p []byte) (int, error) {
	n := 0
	if d.fast > 0 {
		k := int(min(d.fast, int64(len(p))))
		m, err := w(p[:k])
		n += m
		d.fast -= int64(m)
		if err != nil {
			return n, err
		}
	}
	for n < len(p) {
		t := time.NewTimer(d.every)
		select {
		case <-d.done:
			t.Stop()
			return n, errEnd
		case <-t.C:
		}
		m, err := w(p[n : n+1])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var errBudget = &net.OpError{Op: "write", Err: errString("poptest: connection dropped by DropAfterBytes fault")}

type errString string

func (e errString) Error() string { return string(e) }

func (w *limitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Every write gets a fresh deadline, so a long body is bounded per
	// write rather than by the time of the last command.
	w.raw.SetWriteDeadline(time.Now().Add(w.idle))
	if w.dribble != nil {
		return w.dribble.write(func(b []byte) (int, error) {
			w.raw.SetWriteDeadline(time.Now().Add(w.idle))
			return w.writeLimited(b)
		}, p)
	}
	return w.writeLimited(p)
}

// writeLimited writes p, cut at the DropAfterBytes budget.
func (w *limitWriter) writeLimited(p []byte) (int, error) {
	if w.limit >= 0 && w.written+int64(len(p)) > w.limit {
		n, _ := w.conn.Write(p[:w.limit-w.written])
		w.written += int64(n)
		w.raw.Close()
		return n, errBudget
	}
	n, err := w.conn.Write(p)
	w.written += int64(n)
	return n, err
}
