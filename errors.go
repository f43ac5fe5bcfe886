package multidrop

import (
	"errors"
	"fmt"
	"strings"
)

// ErrAccountBusy is returned by Check when another check of the same account
// is running, in this process or (with a shared Locker) in another one.
var ErrAccountBusy = errors.New("multidrop: account busy")

// ErrAccountDisabled is returned by Check for a disabled account.
var ErrAccountDisabled = errors.New("multidrop: account disabled")

// ErrDeletionGuard is reported when the deletion guard stopped deletions in a
// check: an abnormal share of the messages had no valid recipient, which
// usually means a misconfigured domain or an empty user directory.
var ErrDeletionGuard = errors.New("multidrop: deletion guard tripped: too many messages without a valid recipient; they are kept")

// MessageError is a failure that concerns one message. The message is kept on
// the server; the rest of the check goes on.
type MessageError struct {
	Account string
	UID     string // may be empty
	Number  int
	Step    string // "spool", "parse", "resolve", "journal", "deliver", "policy"
	Err     error
}

func (e *MessageError) Error() string {
	id := e.UID
	if id == "" {
		id = fmt.Sprintf("#%d", e.Number)
	}
	msg := e.Err.Error()
	// The step names the package that failed, which may have said so
	// itself ("parse: ...", "spool: ..."): say it once.
	if !strings.HasPrefix(msg, e.Step+": ") {
		msg = e.Step + ": " + msg
	}
	return fmt.Sprintf("multidrop: account %s: message %s: %s", e.Account, id, msg)
}

func (e *MessageError) Unwrap() error { return e.Err }
