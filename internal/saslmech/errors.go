package saslmech

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalidCredentials is returned by a server when the client's
	// credentials do not match.
	ErrInvalidCredentials = errors.New("saslmech: invalid credentials")
	// ErrServerSignature is returned by a SCRAM client when the server's
	// final message does not prove that the server knows the password.
	ErrServerSignature = errors.New("saslmech: server signature mismatch")
	// ErrProtocol is wrapped by every error caused by a malformed or
	// unexpected message from the peer.
	ErrProtocol = errors.New("saslmech: protocol violation")
	// ErrInvalidArgument is wrapped by errors about a user name, password or
	// token that cannot be sent (control characters, invalid UTF-8, empty).
	ErrInvalidArgument = errors.New("saslmech: invalid argument")
)

// protoErr wraps ErrProtocol with what went wrong; detail must never hold a
// credential.
func protoErr(mech, detail string) error {
	return &wrapped{msg: "saslmech: " + mech + ": " + detail, err: ErrProtocol}
}

func argErr(mech, what string) error {
	return &wrapped{msg: "saslmech: " + mech + ": " + what, err: ErrInvalidArgument}
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// quote renders peer-supplied text safely for an error message: at most 64
// bytes, non-printable bytes escaped.
func quote(b []byte) string {
	const max = 64
	s := string(b)
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	q := strconv.QuoteToASCII(s)
	if cut {
		q += "..."
	}
	return q
}
