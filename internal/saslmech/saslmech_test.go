package saslmech

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(u string) (string, bool) { s, ok := m[u]; return s, ok }
}

// exchange runs a client against a server the way a POP3 session does
// (initial response sent with the command), returning the server's verdict
// and the client's error, if any.
func exchange(t *testing.T, c sasl.Client, s sasl.Server) (serverErr, clientErr error) {
	t.Helper()
	_, ir, err := c.Start()
	if err != nil {
		return nil, err
	}
	resp := ir
	for range 10 {
		ch, done, err := s.Next(resp)
		if err != nil {
			return err, nil
		}
		if done {
			return nil, nil
		}
		resp, err = c.Next(ch)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	t.Fatal("exchange did not end")
	return nil, nil
}

func TestCRAMMD5RFC2195(t *testing.T) {
	const challenge = "<1896.697170952@postoffice.reston.mci.net>"
	c := NewCRAMMD5Client("tim", "tanstaaftanstaaf")
	mech, ir, err := c.Start()
	require.NoError(t, err)
	assert.Equal(t, "CRAM-MD5", mech)
	assert.Nil(t, ir)
	resp, err := c.Next([]byte(challenge))
	require.NoError(t, err)
	assert.Equal(t, "tim b913a602c7eda7a495b4e6e7334d3890", string(resp))

	s := NewCRAMMD5Server(challenge, lookupOf(map[string]string{"tim": "tanstaaftanstaaf"}))
	ch, done, err := s.Next(nil)
	require.NoError(t, err)
	assert.False(t, done)
	assert.Equal(t, challenge, string(ch))
	_, done, err = s.Next(resp)
	require.NoError(t, err)
	assert.True(t, done)
}

// RFC 5802 section 5 and RFC 7677 section 3.
var scramVectors = []struct {
	hash, cnonce, snonce, salt, clientFirst, serverFirst, clientFinal, serverFinal string
}{
	{
		hash: "SHA-1", cnonce: "fyko+d2lbbFgONRv9qkxdawL", snonce: "3rfcNHYJY1ZVvWVs7j", salt: "QSXCR+Q6sek8bf92",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		hash: "SHA-256", cnonce: "rOprNGfwEbeRWgbNEkqO", snonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

func TestSCRAMRFCVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.hash, func(t *testing.T) {
			c := NewSCRAMClient(v.hash, "user", "pencil").(*scramClient)
			c.nonce = v.cnonce
			mech, ir, err := c.Start()
			require.NoError(t, err)
			assert.Equal(t, "SCRAM-"+v.hash, mech)
			assert.Equal(t, v.clientFirst, string(ir))
			resp, err := c.Next([]byte(v.serverFirst))
			require.NoError(t, err)
			assert.Equal(t, v.clientFinal, string(resp))
			resp, err = c.Next([]byte(v.serverFinal))
			require.NoError(t, err)
			assert.Empty(t, resp)

			s := NewSCRAMServer(v.hash, lookupOf(map[string]string{"user": "pencil"})).(*scramServer)
			s.serverNonce = v.snonce
			s.salt = mustB64(t, v.salt)
			ch, done, err := s.Next([]byte(v.clientFirst))
			require.NoError(t, err)
			require.False(t, done)
			assert.Equal(t, v.serverFirst, string(ch))
			ch, done, err = s.Next([]byte(v.clientFinal))
			require.NoError(t, err)
			require.False(t, done)
			assert.Equal(t, v.serverFinal, string(ch))
			_, done, err = s.Next([]byte{})
			require.NoError(t, err)
			assert.True(t, done)
		})
	}
}

func TestSCRAMTamperedServerSignature(t *testing.T) {
	v := scramVectors[1]
	for name, final := range map[string]string{
		"flipped":  "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"pad bits": "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",
		"short":    "v=AAAA",
		"bad b64":  "v=!!!",
	} {
		t.Run(name, func(t *testing.T) {
			c := NewSCRAMClient(v.hash, "user", "pencil").(*scramClient)
			c.nonce = v.cnonce
			_, _, err := c.Start()
			require.NoError(t, err)
			_, err = c.Next([]byte(v.serverFirst))
			require.NoError(t, err)
			_, err = c.Next([]byte(final))
			assert.ErrorIs(t, err, ErrServerSignature)
			assert.NotContains(t, err.Error(), "pencil")
		})
	}
}

func TestSCRAMClientRejectsBadServerFirst(t *testing.T) {
	const cn = "abcdefgh"
	for name, sf := range map[string]string{
		"nonce not extended":  "r=zzzz1234,s=QSXCR+Q6sek8bf92,i=4096",
		"nonce equal":         "r=abcdefgh,s=QSXCR+Q6sek8bf92,i=4096",
		"low iterations":      "r=abcdefgh12,s=QSXCR+Q6sek8bf92,i=1",
		"huge iterations":     "r=abcdefgh12,s=QSXCR+Q6sek8bf92,i=999999999",
		"bad salt":            "r=abcdefgh12,s=***,i=4096",
		"missing salt":        "r=abcdefgh12,i=4096",
		"mandatory extension": "m=x,r=abcdefgh12,s=QSXCR+Q6sek8bf92,i=4096",
		"empty":               "",
		"garbage":             "hello",
	} {
		t.Run(name, func(t *testing.T) {
			c := NewSCRAMClient("SHA-256", "user", "pencil").(*scramClient)
			c.nonce = cn
			_, _, err := c.Start()
			require.NoError(t, err)
			_, err = c.Next([]byte(sf))
			assert.ErrorIs(t, err, ErrProtocol)
			// The exchange is over: a further challenge is refused.
			_, err = c.Next([]byte("v=AAAA"))
			assert.Error(t, err)
		})
	}
}

func TestSCRAMServerError(t *testing.T) {
	v := scramVectors[0]
	c := NewSCRAMClient(v.hash, "user", "pencil").(*scramClient)
	c.nonce = v.cnonce
	_, _, err := c.Start()
	require.NoError(t, err)
	_, err = c.Next([]byte(v.serverFirst))
	require.NoError(t, err)
	_, err = c.Next([]byte("e=invalid-proof"))
	require.ErrorIs(t, err, ErrProtocol)
	assert.Contains(t, err.Error(), "invalid-proof")
}

func TestRoundTrips(t *testing.T) {
	users := map[string]string{"alice": "s3cret pass", "we,ird=name": "p€ssword"}
	tokens := map[string]string{"alice@example.org": "ya29.token-value"}
	login := func(u, p string) error {
		if w, ok := users[u]; ok && w == p {
			return nil
		}
		return ErrInvalidCredentials
	}
	tests := []struct {
		name    string
		client  sasl.Client
		server  sasl.Server
		wantErr error
	}{
		{"cram ok", NewCRAMMD5Client("alice", "s3cret pass"), NewCRAMMD5Server("", lookupOf(users)), nil},
		{"cram wrong", NewCRAMMD5Client("alice", "nope"), NewCRAMMD5Server("", lookupOf(users)), ErrInvalidCredentials},
		{"cram unknown", NewCRAMMD5Client("bob", "nope"), NewCRAMMD5Server("", lookupOf(users)), ErrInvalidCredentials},
		{"scram1 ok", NewSCRAMClient("SHA-1", "alice", "s3cret pass"), NewSCRAMServer("SHA-1", lookupOf(users)), nil},
		{"scram256 ok", NewSCRAMClient("SHA-256", "alice", "s3cret pass"), NewSCRAMServer("SHA-256", lookupOf(users)), nil},
		{"scram256 escaped name", NewSCRAMClient("SCRAM-SHA-256", "we,ird=name", "p€ssword"), NewSCRAMServer("SHA-256", lookupOf(users)), nil},
		{"scram256 wrong", NewSCRAMClient("SHA-256", "alice", "wrong"), NewSCRAMServer("SHA-256", lookupOf(users)), ErrInvalidCredentials},
		{"scram unknown user", NewSCRAMClient("SHA-256", "bob", "wrong"), NewSCRAMServer("SHA-256", lookupOf(users)), ErrInvalidCredentials},
		{"scram hash mismatch", NewSCRAMClient("SHA-1", "alice", "s3cret pass"), NewSCRAMServer("SHA-256", lookupOf(users)), ErrInvalidCredentials},
		{"xoauth2 ok", NewXOAUTH2Client("alice@example.org", "ya29.token-value"), NewXOAUTH2Server(lookupOf(tokens)), nil},
		{"xoauth2 wrong", NewXOAUTH2Client("alice@example.org", "expired"), NewXOAUTH2Server(lookupOf(tokens)), ErrInvalidCredentials},
		{"login ok", sasl.NewLoginClient("alice", "s3cret pass"), NewLoginServer(login), nil},
		{"login wrong", sasl.NewLoginClient("alice", "x"), NewLoginServer(login), ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverErr, clientErr := exchange(t, tt.client, tt.server)
			require.NoError(t, clientErr)
			if tt.wantErr == nil {
				assert.NoError(t, serverErr)
				return
			}
			require.ErrorIs(t, serverErr, tt.wantErr)
			for _, secret := range []string{"s3cret", "expired", "wrong", "nope", "ya29"} {
				assert.NotContains(t, serverErr.Error(), secret)
			}
		})
	}
}

func TestLoginServerWithoutInitialResponse(t *testing.T) {
	s := NewLoginServer(func(u, p string) error {
		if u == "a" && p == "b" {
			return nil
		}
		return ErrInvalidCredentials
	})
	ch, done, err := s.Next(nil)
	require.NoError(t, err)
	require.False(t, done)
	assert.Equal(t, "Username:", string(ch))
	ch, _, err = s.Next([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "Password:", string(ch))
	_, done, err = s.Next([]byte("b"))
	require.NoError(t, err)
	assert.True(t, done)
	_, _, err = s.Next([]byte("b"))
	assert.ErrorIs(t, err, ErrProtocol)
}

func TestXOAUTH2Client(t *testing.T) {
	c := NewXOAUTH2Client("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
	mech, ir, err := c.Start()
	require.NoError(t, err)
	assert.Equal(t, "XOAUTH2", mech)
	assert.Equal(t, "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01", string(ir))
	resp, err := c.Next([]byte(XOAUTH2Error))
	require.NoError(t, err)
	assert.NotNil(t, resp)
	assert.Empty(t, resp)
	_, err = c.Next([]byte(XOAUTH2Error))
	assert.ErrorIs(t, err, ErrProtocol)
}

func TestXOAUTH2ServerMalformed(t *testing.T) {
	for _, ir := range []string{"", "user=a\x01auth=Bearer t\x01", "auth=Bearer t\x01user=a\x01\x01", "user=a\x01auth=Basic t\x01\x01"} {
		s := NewXOAUTH2Server(lookupOf(map[string]string{"a": "t"}))
		_, done, err := s.Next([]byte(ir))
		assert.True(t, done, "%q", ir)
		assert.ErrorIs(t, err, ErrProtocol, "%q", ir)
	}
}

func TestSCRAMServerRejects(t *testing.T) {
	users := lookupOf(map[string]string{"user": "pencil"})
	for name, cf := range map[string]string{
		"channel binding": "p=tls-unique,,n=user,r=abc",
		"bad gs2":         "x,,n=user,r=abc",
		"bad name escape": "n,,n=us=41er,r=abc",
		"other authzid":   "n,a=admin,n=user,r=abc",
		"no nonce":        "n,,n=user",
		"garbage":         "hello",
	} {
		t.Run(name, func(t *testing.T) {
			_, done, err := NewSCRAMServer("SHA-256", users).Next([]byte(cf))
			assert.True(t, done)
			assert.Error(t, err)
		})
	}
	t.Run("same authzid", func(t *testing.T) {
		_, done, err := NewSCRAMServer("SHA-256", users).Next([]byte("n,a=user,n=user,r=abc"))
		require.NoError(t, err)
		assert.False(t, done)
	})
	t.Run("without initial response", func(t *testing.T) {
		s := NewSCRAMServer("SHA-256", users)
		ch, done, err := s.Next(nil)
		require.NoError(t, err)
		assert.False(t, done)
		assert.Empty(t, ch)
		_, done, err = s.Next([]byte("n,,n=user,r=abc"))
		require.NoError(t, err)
		assert.False(t, done)
	})
	t.Run("nonce mismatch", func(t *testing.T) {
		s := NewSCRAMServer("SHA-256", users)
		_, _, err := s.Next([]byte("n,,n=user,r=abc"))
		require.NoError(t, err)
		_, done, err := s.Next([]byte("c=biws,r=abcX,p=AAAA"))
		assert.True(t, done)
		assert.ErrorIs(t, err, ErrProtocol)
	})
}

func TestInvalidArguments(t *testing.T) {
	clients := map[string]sasl.Client{
		"cram ctl user":     NewCRAMMD5Client("a\nb", "x"),
		"cram space user":   NewCRAMMD5Client("a b", "x"),
		"cram empty user":   NewCRAMMD5Client("", "x"),
		"cram ctl secret":   NewCRAMMD5Client("a", "hunter2\r\n"),
		"scram bad hash":    NewSCRAMClient("MD5", "a", "x"),
		"scram ctl user":    NewSCRAMClient("SHA-256", "a\x00", "x"),
		"scram ctl pass":    NewSCRAMClient("SHA-256", "a", "hunter2\x7f"),
		"scram bad utf8":    NewSCRAMClient("SHA-256", "a", "hunter2\xff"),
		"xoauth2 ctl user":  NewXOAUTH2Client("a\x01", "tok"),
		"xoauth2 ctl token": NewXOAUTH2Client("a", "hunter2\x01tok"),
		"xoauth2 no token":  NewXOAUTH2Client("a", ""),
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			_, _, err := c.Start()
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.True(t, strings.HasPrefix(err.Error(), "saslmech: "))
		})
	}
}

func TestSaslnameEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", "a,b", "a=b", "=,=,", "=2C"} {
		e := escapeSaslname(s)
		assert.NotContains(t, e, ",")
		got, ok := unescapeSaslname(e)
		assert.True(t, ok)
		assert.Equal(t, s, got)
	}
	_, ok := unescapeSaslname("a=2")
	assert.False(t, ok)
}

func TestErrorsAreWrapped(t *testing.T) {
	err := protoErr("X", "detail")
	assert.True(t, errors.Is(err, ErrProtocol))
	assert.Equal(t, "saslmech: X: detail", err.Error())
}
