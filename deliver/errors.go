package deliver

import (
	"errors"
	"fmt"
	"strconv"
)

// Error is a delivery failure for one recipient (or one attempt), with the
// SMTP/LMTP reply where there is one.
type Error struct {
	Code     int    // SMTP/LMTP reply code, 0 when there was no reply
	Enhanced string // enhanced status code (RFC 3463), e.g. "5.1.1", if any
	Message  string // server text or description, sanitised
	Perm     bool   // true for a permanent failure
	Err      error  // underlying cause, if any
}

func (e *Error) Error() string {
	s := "deliver: "
	if e.Code != 0 {
		s += strconv.Itoa(e.Code) + " "
	}
	if e.Enhanced != "" {
		s += e.Enhanced + " "
	}
	s += e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the failure may go away by itself.
func (e *Error) Temporary() bool { return !e.Perm }

// IsTemporary reports whether err is a temporary failure: false for nil and
// for an *Error marked permanent, true for everything else, unknown errors
// included (the mail is kept and tried again). Other errors' own Temporary
// methods are not consulted: net errors, for one, call a refused connection
// non-temporary, and that must never lose mail.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return !e.Perm
	}
	return true
}

// Permanentf returns a permanent *Error with a formatted message.
func Permanentf(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...), Perm: true}
}
