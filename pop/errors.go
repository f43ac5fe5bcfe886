package pop

import (
	"errors"
	"strconv"
	"strings"
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
}

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
