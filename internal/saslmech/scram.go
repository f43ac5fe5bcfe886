package saslmech

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// Names of the SCRAM mechanisms (RFC 5802, RFC 7677).
const (
	SCRAMSHA1   = "SCRAM-SHA-1"
	SCRAMSHA256 = "SCRAM-SHA-256"
)

// MaxSCRAMIterations bounds the iteration count a SCRAM client accepts from
// a server, so a hostile server cannot make the client spin for minutes.
const MaxSCRAMIterations = 1 << 20

// minSCRAMIterations is the smallest count RFC 5802 section 5.1 allows
// servers to announce (4096); smaller counts are refused as a downgrade.
const minSCRAMIterations = 4096

// gs2Header is the GS2 header of a client without channel binding support.
const gs2Header = "n,,"

type scramHash struct {
	mech string
	new  func() hash.Hash
}

func scramHashFor(name string) (scramHash, bool) {
	switch strings.ToUpper(name) {
	case "SHA-1", "SHA1", SCRAMSHA1:
		return scramHash{SCRAMSHA1, sha1.New}, true
	case "SHA-256", "SHA256", SCRAMSHA256:
		return scramHash{SCRAMSHA256, sha256.New}, true
	}
	return scramHash{}, false
}

func (h scramHash) hmac(key []byte, parts ...string) []byte {
	m := hmac.New(h.new, key)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{','})
		}
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func (h scramHash) sum(b []byte) []byte {
	d := h.new()
	d.Write(b)
	return d.Sum(nil)
}

func (h scramHash) salted(password string, salt []byte, iter int) ([]byte, error) {
	return pbkdf2.Key(h.new, password, salt, iter, h.new().Size())
}

type scramClient struct {
	h                  scramHash
	hashOK             bool
	username, password string
	nonce              string // client nonce; set in tests to reproduce RFC vectors
	state              int    // 0 before Start, 1 after Start, 2 after client-final, 3 done
	clientFirstBare    string
	serverSignature    []byte
}

// NewSCRAMClient returns a SCRAM client (RFC 5802, RFC 7677) for hash
// "SHA-1" or "SHA-256" (the mechanism name, e.g. "SCRAM-SHA-256", is also
// accepted). It does not use channel binding (GS2 header "n,,"). The client
// verifies the server signature in the server-final-message and fails with
// [ErrServerSignature] when it is wrong, so a successful exchange proves
// that the server knows the password. It refuses iteration counts below
// 4096 or above [MaxSCRAMIterations].
func NewSCRAMClient(hash, username, password string) sasl.Client {
	h, ok := scramHashFor(hash)
	return &scramClient{h: h, hashOK: ok, username: username, password: password}
}

func (c *scramClient) mech() string {
	if c.hashOK {
		return c.h.mech
	}
	return "SCRAM"
}

func (c *scramClient) Start() (string, []byte, error) {
	if !c.hashOK {
		return "", nil, argErr("SCRAM", "unsupported hash (want SHA-1 or SHA-256)")
	}
	if c.state != 0 {
		return "", nil, protoErr(c.mech(), "Start called twice")
	}
	if c.username == "" || !validText(c.username) {
		return "", nil, argErr(c.mech(), "user name is empty or holds a control character")
	}
	if !validText(c.password) {
		return "", nil, argErr(c.mech(), "password holds a control character or invalid UTF-8")
	}
	if c.nonce == "" {
		c.nonce = newNonce()
	}
	c.clientFirstBare = "n=" + escapeSaslname(c.username) + ",r=" + c.nonce
	c.state = 1
	return c.h.mech, []byte(gs2Header + c.clientFirstBare), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	switch c.state {
	case 1:
		c.state = 3 // any error ends the exchange
		resp, err := c.clientFinal(challenge)
		if err != nil {
			return nil, err
		}
		c.state = 2
		return resp, nil
	case 2:
		c.state = 3
		return c.verifyServerFinal(challenge)
	}
	return nil, protoErr(c.mech(), "unexpected challenge")
}

func (c *scramClient) clientFinal(serverFirst []byte) ([]byte, error) {
	attrs, err := parseAttrs(serverFirst)
	if err != nil {
		return nil, protoErr(c.mech(), "malformed server-first-message: "+quote(serverFirst))
	}
	if len(attrs) > 0 && attrs[0].k == 'm' {
		return nil, protoErr(c.mech(), "server requires an unsupported extension")
	}
	if len(attrs) < 3 || attrs[0].k != 'r' || attrs[1].k != 's' || attrs[2].k != 'i' {
		return nil, protoErr(c.mech(), "malformed server-first-message: "+quote(serverFirst))
	}
	nonce := attrs[0].v
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) || !validNonce(nonce) {
		return nil, protoErr(c.mech(), "server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(attrs[1].v)
	if err != nil || len(salt) == 0 {
		return nil, protoErr(c.mech(), "malformed salt")
	}
	iter, err := strconv.Atoi(attrs[2].v)
	if err != nil || iter < minSCRAMIterations || iter > MaxSCRAMIterations {
		return nil, protoErr(c.mech(), "iteration count out of range: "+quote([]byte(attrs[2].v)))
	}
	salted, err := c.h.salted(c.password, salt, iter)
	if err != nil {
		return nil, protoErr(c.mech(), "key derivation failed")
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2Header)) + ",r=" + nonce
	authMessage := c.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	clientKey := c.h.hmac(salted, "Client Key")
	storedKey := c.h.sum(clientKey)
	sig := c.h.hmac(storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, sig)
	serverKey := c.h.hmac(salted, "Server Key")
	c.serverSignature = c.h.hmac(serverKey, authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

func (c *scramClient) verifyServerFinal(serverFinal []byte) ([]byte, error) {
	attrs, err := parseAttrs(serverFinal)
	if err != nil || len(attrs) == 0 {
		return nil, protoErr(c.mech(), "malformed server-final-message: "+quote(serverFinal))
	}
	switch attrs[0].k {
	case 'e':
		return nil, protoErr(c.mech(), "server error "+quote([]byte(attrs[0].v)))
	case 'v':
		got, err := base64.StdEncoding.Strict().DecodeString(attrs[0].v)
		if err != nil || !hmac.Equal(got, c.serverSignature) {
			return nil, ErrServerSignature
		}
		return []byte{}, nil
	}
	return nil, protoErr(c.mech(), "malformed server-final-message: "+quote(serverFinal))
}

type attr struct {
	k byte
	v string
}

// parseAttrs splits "a=v,b=w" into attributes. Values may contain '='.
func parseAttrs(b []byte) ([]attr, error) {
	if len(b) == 0 {
		return nil, ErrProtocol
	}
	var out []attr
	for _, f := range bytes.Split(b, []byte{','}) {
		if len(f) < 2 || f[1] != '=' || !(f[0] >= 'a' && f[0] <= 'z' || f[0] >= 'A' && f[0] <= 'Z') {
			return nil, ErrProtocol
		}
		out = append(out, attr{f[0], string(f[2:])})
	}
	return out, nil
}

// validNonce reports whether n is printable ASCII without ',' (RFC 5802).
func validNonce(n string) bool {
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e || n[i] == ',' {
			return false
		}
	}
	return n != ""
}

// escapeSaslname encodes '=' as "=3D" and ',' as "=2C" (RFC 5802 section 5.1).
func escapeSaslname(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// unescapeSaslname reverses escapeSaslname; any other '=' sequence is invalid.
func unescapeSaslname(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			return "", false
		case '=':
			switch {
			case strings.HasPrefix(s[i:], "=3D"):
				b.WriteByte('=')
			case strings.HasPrefix(s[i:], "=2C"):
				b.WriteByte(',')
			default:
				return "", false
			}
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// SCRAMIterations is the iteration count [NewSCRAMServer] announces.
const SCRAMIterations = 4096

type scramServer struct {
	h      scramHash
	lookup func(user string) (string, bool)

	// set in tests to reproduce RFC vectors; random when empty
	serverNonce string
	salt        []byte

	state           int // 0 start, 1 server-first sent, 2 server-final sent, 3 done
	gs2             string
	clientFirstBare string
	serverFirst     string
	nonce           string
	salted          []byte
}

// NewSCRAMServer returns a SCRAM server for hash "SHA-1" or "SHA-256" (or the
// mechanism name). It announces [SCRAMIterations] iterations and a random
// salt, refuses channel binding ("p=") and authorization identities other
// than the user name, and sends its server-final-message as a challenge
// that the client must answer with an empty response. lookup returns a
// user's password. An unknown hash makes every exchange fail.
func NewSCRAMServer(hash string, lookup func(user string) (password string, ok bool)) sasl.Server {
	h, _ := scramHashFor(hash)
	return &scramServer{h: h, lookup: lookup}
}

func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	if s.h.new == nil {
		return nil, true, argErr("SCRAM", "unsupported hash (want SHA-1 or SHA-256)")
	}
	switch s.state {
	case 0:
		if response == nil {
			// No initial response: ask for client-first with an empty challenge.
			s.state = -1
			return []byte{}, false, nil
		}
		fallthrough
	case -1:
		s.state = 3
		ch, err := s.serverFirstMessage(response)
		if err != nil {
			return nil, true, err
		}
		s.state = 1
		return ch, false, nil
	case 1:
		s.state = 3
		ch, err := s.serverFinalMessage(response)
		if err != nil {
			return nil, true, err
		}
		s.state = 2
		return ch, false, nil
	case 2:
		s.state = 3
		if len(response) != 0 {
			return nil, true, protoErr(s.h.mech, "non-empty response to server-final-message")
		}
		return nil, true, nil
	}
	return nil, true, protoErr(s.h.mech, "unexpected response after the end of the exchange")
}

func (s *scramServer) serverFirstMessage(clientFirst []byte) ([]byte, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	parts := strings.SplitN(string(clientFirst), ",", 3)
	if len(parts) != 3 {
		return nil, protoErr(s.h.mech, "malformed client-first-message")
	}
	switch {
	case parts[0] == "n", parts[0] == "y":
	case strings.HasPrefix(parts[0], "p="):
		return nil, protoErr(s.h.mech, "channel binding is not supported")
	default:
		return nil, protoErr(s.h.mech, "malformed GS2 header")
	}
	s.gs2 = parts[0] + "," + parts[1] + ","
	s.clientFirstBare = parts[2]
	attrs, err := parseAttrs([]byte(parts[2]))
	if err != nil || len(attrs) < 2 || attrs[0].k != 'n' || attrs[1].k != 'r' || !validNonce(attrs[1].v) {
		return nil, protoErr(s.h.mech, "malformed client-first-message")
	}
	user, ok := unescapeSaslname(attrs[0].v)
	if !ok {
		return nil, protoErr(s.h.mech, "malformed user name")
	}
	if parts[1] != "" {
		authz, ok := strings.CutPrefix(parts[1], "a=")
		if !ok {
			return nil, protoErr(s.h.mech, "malformed authorization identity")
		}
		if a, ok := unescapeSaslname(authz); !ok || a != user {
			return nil, ErrInvalidCredentials
		}
	}
	password, ok := s.lookup(user)
	if !ok {
		return nil, ErrInvalidCredentials
	}
	if s.serverNonce == "" {
		s.serverNonce = newNonce()
	}
	if s.salt == nil {
		s.salt = make([]byte, 16)
		rand.Read(s.salt)
	}
	s.nonce = attrs[1].v + s.serverNonce
	s.salted, err = s.h.salted(password, s.salt, SCRAMIterations)
	if err != nil {
		return nil, protoErr(s.h.mech, "key derivation failed")
	}
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.salt) + ",i=" + strconv.Itoa(SCRAMIterations)
	return []byte(s.serverFirst), nil
}

func (s *scramServer) serverFinalMessage(clientFinal []byte) ([]byte, error) {
	i := bytes.LastIndex(clientFinal, []byte(",p="))
	if i < 0 {
		return nil, protoErr(s.h.mech, "client-final-message without proof")
	}
	withoutProof := string(clientFinal[:i])
	attrs, err := parseAttrs(clientFinal)
	if err != nil || len(attrs) < 3 || attrs[0].k != 'c' || attrs[1].k != 'r' || attrs[len(attrs)-1].k != 'p' {
		return nil, protoErr(s.h.mech, "malformed client-final-message")
	}
	if attrs[0].v != base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
		return nil, protoErr(s.h.mech, "channel binding data does not match the GS2 header")
	}
	if attrs[1].v != s.nonce {
		return nil, protoErr(s.h.mech, "nonce mismatch")
	}
	proof, err := base64.StdEncoding.DecodeString(attrs[len(attrs)-1].v)
	if err != nil || len(proof) != s.h.new().Size() {
		return nil, ErrInvalidCredentials
	}
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	clientKey := s.h.hmac(s.salted, "Client Key")
	storedKey := s.h.sum(clientKey)
	sig := s.h.hmac(storedKey, authMessage)
	gotKey := make([]byte, len(proof))
	subtle.XORBytes(gotKey, proof, sig)
	if subtle.ConstantTimeCompare(s.h.sum(gotKey), storedKey) != 1 {
		return nil, ErrInvalidCredentials
	}
	serverSig := s.h.hmac(s.h.hmac(s.salted, "Server Key"), authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}
