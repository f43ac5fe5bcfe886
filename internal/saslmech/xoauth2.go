package saslmech

import (
	"bytes"
	"crypto/subtle"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is the name of the XOAUTH2 mechanism used by Google and Microsoft.
const XOAUTH2 = "XOAUTH2"

type xoauth2Client struct {
	username, token string
	state           int
}

// NewXOAUTH2Client returns an XOAUTH2 client: the initial response is
// "user={username}\x01auth=Bearer {token}\x01\x01". When the server rejects
// the token it sends a JSON error as a challenge; the client answers with an
// empty response, as the mechanism requires, and the server then ends the
// exchange with an error reply.
func NewXOAUTH2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	if c.username == "" || !validText(c.username) {
		return "", nil, argErr(XOAUTH2, "user name is empty or holds a control character")
	}
	if c.token == "" || !validText(c.token) || strings.ContainsRune(c.token, ' ') {
		return "", nil, argErr(XOAUTH2, "token is empty or holds a space or control character")
	}
	return XOAUTH2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.state > 0 {
		return nil, protoErr(XOAUTH2, "unexpected second challenge")
	}
	c.state++
	// The challenge is the server's JSON error; the exchange must be ended
	// with an empty response so the server can send its failure reply.
	return []byte{}, nil
}

// XOAUTH2Error is the JSON challenge [NewXOAUTH2Server] sends on failure.
const XOAUTH2Error = `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`

type xoauth2Server struct {
	lookup func(user string) (string, bool)
	state  int // 0 start, 1 waiting for IR after empty challenge, 2 error sent, 3 done
	err    error
}

// NewXOAUTH2Server returns an XOAUTH2 server. lookup returns the valid token
// of a user. On failure the server sends [XOAUTH2Error] as a challenge and
// returns the error after the client's (empty) response.
func NewXOAUTH2Server(lookup func(user string) (token string, ok bool)) sasl.Server {
	return &xoauth2Server{lookup: lookup}
}

func (s *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case 0, 1:
		if response == nil && s.state == 0 {
			s.state = 1
			return []byte{}, false, nil
		}
		user, token, err := parseXOAUTH2(response)
		if err != nil {
			s.state = 3
			return nil, true, err
		}
		want, ok := s.lookup(user)
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
			s.state = 2
			s.err = ErrInvalidCredentials
			return []byte(XOAUTH2Error), false, nil
		}
		s.state = 3
		return nil, true, nil
	case 2:
		s.state = 3
		return nil, true, s.err
	}
	return nil, true, protoErr(XOAUTH2, "unexpected response after the end of the exchange")
}

func parseXOAUTH2(b []byte) (user, token string, err error) {
	fields := bytes.Split(b, []byte{1})
	// user=...\x01auth=...\x01\x01 splits into 4 fields, the last two empty.
	if len(fields) != 4 || len(fields[2]) != 0 || len(fields[3]) != 0 {
		return "", "", protoErr(XOAUTH2, "malformed initial response")
	}
	u, ok := bytes.CutPrefix(fields[0], []byte("user="))
	if !ok {
		return "", "", protoErr(XOAUTH2, "missing user=")
	}
	a, ok := bytes.CutPrefix(fields[1], []byte("auth="))
	if !ok || len(a) < 7 || !strings.EqualFold(string(a[:7]), "bearer ") {
		return "", "", protoErr(XOAUTH2, "missing auth=Bearer")
	}
	return string(u), string(a[7:]), nil
}
