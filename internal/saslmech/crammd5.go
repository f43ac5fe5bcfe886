package saslmech

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// CRAMMD5 is the name of the CRAM-MD5 mechanism (RFC 2195).
const CRAMMD5 = "CRAM-MD5"

type cramMD5Client struct {
	username, secret string
	done             bool
}

// NewCRAMMD5Client returns a CRAM-MD5 client (RFC 2195). The mechanism sends
// the user name in clear and an HMAC-MD5 of the server's challenge keyed
// with secret; it protects the password from a passive observer but not the
// session, so use it only over TLS.
func NewCRAMMD5Client(username, secret string) sasl.Client {
	return &cramMD5Client{username: username, secret: secret}
}

func (c *cramMD5Client) Start() (string, []byte, error) {
	if c.username == "" || !validText(c.username) || strings.ContainsRune(c.username, ' ') {
		return "", nil, argErr(CRAMMD5, "user name is empty or holds a space or control character")
	}
	if !validText(c.secret) {
		return "", nil, argErr(CRAMMD5, "secret holds a control character or invalid UTF-8")
	}
	return CRAMMD5, nil, nil
}

func (c *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	if c.done {
		return nil, protoErr(CRAMMD5, "unexpected second challenge")
	}
	c.done = true
	if len(challenge) == 0 {
		return nil, protoErr(CRAMMD5, "empty challenge")
	}
	return []byte(c.username + " " + cramDigest(c.secret, challenge)), nil
}

func cramDigest(secret string, challenge []byte) string {
	m := hmac.New(md5.New, []byte(secret))
	m.Write(challenge)
	return hex.EncodeToString(m.Sum(nil))
}

type cramMD5Server struct {
	challenge string
	lookup    func(user string) (string, bool)
	state     int // 0: nothing sent, 1: challenge sent, 2: done
}

// NewCRAMMD5Server returns a CRAM-MD5 server. challenge is sent to the
// client; when empty, a fresh "<random.time@saslmech>" challenge is made.
// lookup returns the shared secret of a user.
func NewCRAMMD5Server(challenge string, lookup func(user string) (secret string, ok bool)) sasl.Server {
	if challenge == "" {
		challenge = "<" + newNonce()[:16] + "." + strconv.FormatInt(time.Now().Unix(), 10) + "@saslmech>"
	}
	return &cramMD5Server{challenge: challenge, lookup: lookup}
}

func (s *cramMD5Server) Next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		s.state = 1
		if response != nil {
			s.state = 2
			return nil, true, protoErr(CRAMMD5, "initial response not allowed")
		}
		return []byte(s.challenge), false, nil
	case 1:
		s.state = 2
		i := strings.LastIndexByte(string(response), ' ')
		if i <= 0 {
			return nil, true, protoErr(CRAMMD5, "response is not \"user digest\"")
		}
		user, digest := string(response[:i]), response[i+1:]
		secret, ok := s.lookup(user)
		if !ok {
			return nil, true, ErrInvalidCredentials
		}
		want := cramDigest(secret, []byte(s.challenge))
		if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(string(digest)))) != 1 {
			return nil, true, ErrInvalidCredentials
		}
		return nil, true, nil
	}
	return nil, true, protoErr(CRAMMD5, "unexpected response after the end of the exchange")
}
