package resolve

import (
	"fmt"
	"strconv"
)

// LookupError is a failure of the [Directory] (or its [NameLookup]) while
// resolving a message. The message must be kept and retried: a directory
// error never means "no valid recipients".
type LookupError struct {
	Domain string // the local domain looked up, in ASCII (A-label) form
	Key    string // the local part or display name looked up
	Err    error  // the directory's error, or the context's
}

func (e *LookupError) Error() string {
	return "resolve: directory lookup of " + strconv.Quote(e.Key) + " in " + e.Domain + ": " + e.Err.Error()
}

func (e *LookupError) Unwrap() error { return e.Err }

// ConfigError is an invalid setting of an account (a bad regular expression,
// an unknown rule kind, a domain that is not a valid IDNA name). Every
// message of the account is kept until the setting is fixed.
type ConfigError struct {
	Account string // account ID
	Field   string // the setting, e.g. "resolving.rules[2].pattern"
	Err     error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("resolve: account %q: %s: %v", e.Account, e.Field, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// SyntaxError is an invalid line of a directory file (see [ParseDirectory]).
type SyntaxError struct {
	Path string // file name, empty when read from a reader
	Line int    // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string {
	where := "line " + strconv.Itoa(e.Line)
	if e.Path != "" {
		where = e.Path + ":" + strconv.Itoa(e.Line)
	}
	return "resolve: " + where + ": " + e.Msg
}
