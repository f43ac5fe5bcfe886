package pop

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is a negative reply (-ERR) from the server. The session stays usable.
type Error struct {
	// Command is the command verb that was refused ("PASS", "RETR", ...);
	// arguments are never included, so no credential can leak through it.
	Command string
	// Code is the RFC 2449 response code without brackets ("SYS/TEMP",
	// "IN-USE", "LOGIN-DELAY", "AUTH", ...), "" when the server sent none.
	Code string
	// Text is the rest of the server's line, escaped and truncated.
	Text string
	// LoginDelay is set on a [LOGIN-DELAY] refusal (RFC 2449 section 8.1.2)
	// to the minimum time between logins the server announced in CAPA
	// before the login (RFC 2449 section 6.8); zero when it announced none.
	LoginDelay time.Duration
	// NextLogin is, on such a refusal with a known LoginDelay, the time of
	// the refusal plus LoginDelay: the earliest next login the server will
	// accept. Zero otherwise; the caller then picks its own backoff.
	NextLogin time.Time
}

// ErrInUse matches (with [errors.Is]) an [*Error] with the [IN-USE]
// response code (RFC 2449 section 8.1.1): another session holds the
// maildrop. Try again soon, after a short backoff of the caller's.
var ErrInUse = errors.New("pop: maildrop in use")

// ErrLoginDelay matches (with [errors.Is]) an [*Error] with the
// [LOGIN-DELAY] response code: the login came sooner after the previous
// one than the server allows. [Error.NextLogin] says when to try again.
var ErrLoginDelay = errors.New("pop: login too soon")

// Is makes an *Error match [ErrInUse] or [ErrLoginDelay] by its code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInUse:
		return strings.EqualFold(e.Code, "IN-USE")
	case ErrLoginDelay:
		return strings.EqualFold(e.Code, "LOGIN-DELAY")
	}
	return false
}

// NextLogin returns the earliest time the server accepts a next login, as
// a [LOGIN-DELAY] refusal in err tells it (see [Error.NextLogin]); ok is
// false when err is no such refusal or the server announced no delay.
// After a successful session use [Scan.NextLogin].
func NextLogin(err error) (t time.Time, ok bool) {
	var e *Error
	if errors.As(err, &e) && errors.Is(e, ErrLoginDelay) && !e.NextLogin.IsZero() {
		return e.NextLogin, true
	}
	return time.Time{}, false
}

// refusal builds the *Error of a -ERR status to cmd.
func (c *Client) refusal(cmd string, st status) *Error {
	e := &Error{Command: cmd, Code: st.code, Text: escape(st.text)}
	if e.Code == "LOGIN-DELAY" {
		e.LoginDelay = c.LoginDelay()
		if e.LoginDelay > 0 {
			e.NextLogin = time.Now().Add(e.LoginDelay)
		}
	}
	return e
}

// Bound names the limit of [account.Timeouts] that a [*TimeoutError]
// exceeded.
type Bound string

const (
	BoundCommand Bound = "command"  // Timeouts.Command: a command and its whole reply
	BoundData    Bound = "data"     // Timeouts.Data: silence inside a message body
	BoundMessage Bound = "message"  // Timeouts.Message: one message's download
	BoundRate    Bound = "min_rate" // Timeouts.MinRate over Timeouts.RateWindow
	BoundSession Bound = "session"  // Timeouts.Session: the whole session
)

// TimeoutError is a bound of Options.Timeouts that expired. The session is
// over and was closed without QUIT, so nothing marked for deletion was
// deleted. It matches os.ErrDeadlineExceeded with [errors.Is].
type TimeoutError struct {
	Command string        // the command being answered, "" for the greeting
	Bound   Bound         // which bound tripped
	Limit   time.Duration // its value (the window for BoundRate)
	MinRate int64         // octets per second, for BoundRate
}

func (e *TimeoutError) Error() string {
	var b strings.Builder
	b.WriteString("pop: ")
	if e.Command != "" {
		b.WriteString(e.Command)
		b.WriteString(": ")
	}
	switch e.Bound {
	case BoundRate:
		fmt.Fprintf(&b, "transfer slower than %d octets/s over %v (timeouts.min_rate)", e.MinRate, e.Limit)
	case BoundData:
		fmt.Fprintf(&b, "server silent for %v inside a message (timeouts.data)", e.Limit)
	case BoundMessage:
		fmt.Fprintf(&b, "message download longer than %v (timeouts.message)", e.Limit)
	case BoundSession:
		fmt.Fprintf(&b, "session longer than %v (timeouts.session)", e.Limit)
	default:
		fmt.Fprintf(&b, "reply not complete within %v (timeouts.command)", e.Limit)
	}
	b.WriteString("; session closed without QUIT")
	return b.String()
}

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// Is makes a TimeoutError match os.ErrDeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pop: ")
	if e.Command != "" {
		b.WriteString(e.Command)
		b.WriteString(": ")
	}
	b.WriteString("server said -ERR")
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed. SYS/PERM and
// AUTH (RFC 3206) are permanent; SYS/TEMP, IN-USE and LOGIN-DELAY (RFC 2449)
// are temporary, and so is a refusal without a code: an unknown failure
// keeps the mail.
func (e *Error) Temporary() bool {
	top, _, _ := strings.Cut(e.Code, "/")
	switch strings.ToUpper(top) {
	case "AUTH":
		return false
	case "SYS":
		return !strings.EqualFold(e.Code, "SYS/PERM")
	}
	return true
}

// Protocol violations. A [ProtocolError] wraps one of them; the session it
// happened in is over and is closed without QUIT, so nothing marked for
// deletion is deleted.
var (
	ErrBadStatus      = errors.New("bad status line")
	ErrLineTooLong    = errors.New("line too long")
	ErrUnsolicited    = errors.New("unsolicited data")
	ErrNoTerminator   = errors.New("connection closed before the end of a multi-line reply")
	ErrBadListing     = errors.New("malformed listing")
	ErrInconsistent   = errors.New("inconsistent listings")
	ErrDuplicate      = errors.New("duplicate message number")
	ErrListingTooLong = errors.New("listing too long")
)

// ProtocolError is a server reply that breaks the protocol. The session is
// closed without QUIT. Err is one of the Err* sentinels above; use
// [errors.Is] to branch on it.
type ProtocolError struct {
	Command string // the command being answered, "" for the greeting
	Err     error
	Detail  string // escaped, truncated excerpt or explanation
}

func (e *ProtocolError) Error() string {
	s := "pop: "
	if e.Command != "" {
		s += e.Command + ": "
	}
	s += "protocol violation: " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Errors of the client's own checks, before anything is sent.
var (
	// ErrBadArgument is returned when an argument holds CR, LF or NUL or is
	// otherwise unfit to send; nothing was written.
	ErrBadArgument = errors.New("pop: bad argument")
	// ErrInsecure is returned when a plaintext password would cross a
	// connection without TLS and the caller did not allow it.
	ErrInsecure = errors.New("pop: refusing to send a password without TLS")
	// ErrClosed is returned by calls on a client whose session has ended.
	ErrClosed = errors.New("pop: session closed")
	// ErrNotSupported is returned when the server lacks what was asked
	// (STLS, a SASL mechanism, the APOP timestamp).
	ErrNotSupported = errors.New("pop: not supported by the server")
	// ErrNoClientCert is returned when SASL EXTERNAL is configured but
	// the session has no TLS or the account no client certificate: the
	// TLS client certificate is what EXTERNAL asserts, so AUTH is not sent.
	ErrNoClientCert = errors.New("pop: SASL EXTERNAL needs TLS and a client certificate")
)

const maxTextLen = 200

// escape makes server text safe for logs and errors: printable ASCII and
// valid UTF-8 kept, everything else escaped, at most maxTextLen bytes.
func escape(b []byte) string {
	var s strings.Builder
	for len(b) > 0 {
		if s.Len() >= maxTextLen {
			s.WriteString("...")
			break
		}
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f:
			s.WriteString(`\x`)
			s.WriteString(strconv.FormatUint(uint64(b[0])|0x100, 16)[1:])
			size = 1
		default:
			s.Write(b[:size])
		}
		b = b[size:]
	}
	return s.String()
}
