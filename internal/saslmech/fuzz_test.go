package saslmech

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const fuzzPassword = "fuzz-password-\u00e9"

// FuzzSCRAMClient feeds arbitrary server messages to the client: it must
// not panic, must fail unless the server proves knowledge of the password,
// and must never put the password in an error.
func FuzzSCRAMClient(f *testing.F) {
	f.Fuzz(func(t *testing.T, serverFirst, serverFinal []byte) {
		c := NewSCRAMClient("SHA-256", "user", fuzzPassword).(*scramClient)
		c.nonce = "abcdefgh"
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		_, err := c.Next(serverFirst)
		if err != nil {
			assert.NotContains(t, err.Error(), fuzzPassword)
			return
		}
		_, err = c.Next(serverFinal)
		if err == nil {
			// Only a correct server signature is accepted.
			assert.True(t, strings.HasPrefix(string(serverFinal), "v="))
			return
		}
		assert.NotContains(t, err.Error(), fuzzPassword)
	})
}

// FuzzSCRAMServer feeds arbitrary client messages to the server: it must
// not panic and must never accept a proof it did not verify.
func FuzzSCRAMServer(f *testing.F) {
	f.Fuzz(func(t *testing.T, clientFirst, clientFinal []byte) {
		s := NewSCRAMServer("SHA-1", func(string) (string, bool) { return fuzzPassword, true }).(*scramServer)
		s.serverNonce = "srv"
		s.salt = []byte("salt")
		_, done, err := s.Next(clientFirst)
		if err != nil || done {
			return
		}
		_, _, err = s.Next(clientFinal)
		if err == nil {
			t.Fatalf("accepted a proof without the password: %q", clientFinal)
		}
		assert.NotContains(t, err.Error(), fuzzPassword)
	})
}
