package saslmech

import (
	"crypto/rand"
	"encoding/base64"
	"unicode/utf8"
)

// validText reports whether s can be sent: valid UTF-8 without C0 controls
// or DEL. It is the subset of SASLprep (RFC 4013) that matters for
// interoperability: prohibited control characters are refused, while
// normalisation is left to the user.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// newNonce returns a printable random nonce of 24 random bytes (32 base64
// characters without padding, never a comma).
func newNonce() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand panics if the source fails)
	return base64.RawStdEncoding.EncodeToString(b)
}
