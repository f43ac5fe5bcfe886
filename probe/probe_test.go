package probe_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/probe"
	"github.com/multidrop/multidrop/resolve"
)

func server(t *testing.T, msgs ...string) (*poptest.Server, account.Account) {
	t.Helper()
	srv := &poptest.Server{ImplicitTLS: true}
	srv.Start(t)
	var pm []poptest.Message
	for i, m := range msgs {
		pm = append(pm, poptest.Message{UID: "u" + strconv.Itoa(i+1), Data: []byte(m)})
	}
	srv.AddUser("box", "pw", pm...)
	host, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return srv, account.Account{
		ID: "acct", Enabled: true, Host: host, Port: n, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{RootCAs: string(srv.CAPEM())},
		Auth:     account.Auth{User: "box", Secret: "pw"},
	}
}

// verbs returns the commands the server received.
func verbs(srv *poptest.Server) []string {
	var v []string
	for _, c := range srv.Transcript() {
		v = append(v, c.Name)
	}
	return v
}

func TestTest(t *testing.T) {
	srv, a := server(t, "To: alice@example.com\r\n\r\nhi\r\n", "To: bob@example.com\r\n\r\nho\r\n")

	r := probe.Test(t.Context(), a, nil)
	require.True(t, r.OK(), "%v: %v", r.Failed, r.Err)
	assert.Equal(t, 2, r.Messages)
	assert.Positive(t, r.Size)
	assert.True(t, r.TLS)
	require.NotNil(t, r.Certificate)
	assert.True(t, r.Certificate.Verified)
	assert.Contains(t, r.Certificate.DNSNames, "localhost")
	assert.NotEmpty(t, r.Certificate.Issuer)
	assert.False(t, r.Certificate.NotAfter.IsZero())
	assert.Contains(t, r.Capabilities, "UIDL")
	assert.Contains(t, r.Verdict(), "OK: logged in")
	assert.Contains(t, r.Verdict(), "found 2 messages")
	assert.Len(t, srv.Mailbox("box"), 2)
	assert.NotContains(t, verbs(srv), "RETR")
	assert.NotContains(t, verbs(srv), "DELE")
	assert.Contains(t, verbs(srv), "QUIT")

	// The pin is the SHA-256 of the SubjectPublicKeyInfo, as
	// account.TLS.PinSHA256 takes it: a pinned account passes.
	pinned := a
	pinned.TLS.PinSHA256 = []string{r.Certificate.PinSHA256}
	assert.True(t, probe.Test(t.Context(), pinned, nil).OK())
	pinned.TLS.PinSHA256 = []string{strings.Repeat("00", 32)}
	assert.Equal(t, probe.StepTLS, probe.Test(t.Context(), pinned, nil).Failed)
}

func TestTestFailures(t *testing.T) {
	_, a := server(t)

	wrong := a
	wrong.Auth.Secret = "nope"
	r := probe.Test(t.Context(), wrong, nil)
	assert.Equal(t, probe.StepAuthenticate, r.Failed, "%v", r.Err)
	assert.Contains(t, r.Verdict(), "FAILED to log in")

	// Not trusted: the certificate is still shown, marked unverified.
	untrusted := a
	untrusted.TLS.RootCAs = ""
	r = probe.Test(t.Context(), untrusted, nil)
	assert.Equal(t, probe.StepTLS, r.Failed, "%v", r.Err)
	require.NotNil(t, r.Certificate)
	assert.False(t, r.Certificate.Verified)
	assert.Contains(t, r.Verdict(), "is not trusted")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := a
	closed.Port = ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	r = probe.Test(t.Context(), closed, nil)
	assert.Equal(t, probe.StepConnect, r.Failed, "%v", r.Err)
	assert.Contains(t, r.Verdict(), "FAILED to connect")
}

func TestPinMatchesCA(t *testing.T) {
	// describe's pin is over the SPKI: check it against the server's
	// leaf independently, from the handshake's certificate chain.
	_, a := server(t)
	r := probe.Test(t.Context(), a, nil)
	require.True(t, r.OK())
	block, _ := pem.Decode([]byte(a.TLS.RootCAs))
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	caPin := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	assert.NotEqual(t, hex.EncodeToString(caPin[:]), r.Certificate.PinSHA256, "the leaf's pin, not the CA's")
	assert.Len(t, r.Certificate.PinSHA256, 64)
}

func TestPreview(t *testing.T) {
	srv, a := server(t,
		"From: x@elsewhere.example\r\nTo: Alice <alice@example.com>\r\nCc: sales@example.com\r\nSubject: hello\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
		"From: y@elsewhere.example\r\nTo: nobody@example.com\r\nSubject: lost\r\n\r\nbody\r\n",
		"From: z@elsewhere.example\r\nTo: bob@example.com\r\nSubject: third\r\n\r\nbody\r\n",
	)
	tab, err := resolve.ParseDirectory(strings.NewReader("alice@example.com\nbob@example.com\nsales@example.com: alice, bob\n"))
	require.NoError(t, err)
	dir, err := resolve.NewStatic(tab)
	require.NoError(t, err)
	opts := &probe.PreviewOptions{Resolver: resolve.New(dir, nil), Max: 2}

	r, err := probe.Preview(t.Context(), a, opts)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Listed)
	require.Len(t, r.Messages, 2, "Max")
	m := r.Messages[0]
	assert.Equal(t, probe.Deliver, m.Outcome)
	assert.ElementsMatch(t, []string{"alice@example.com", "bob@example.com"}, m.Recipients)
	assert.Equal(t, "hello", m.Subject)
	assert.Equal(t, "<1@x>", m.MessageID)
	assert.Equal(t, "u1", m.UID)
	m = r.Messages[1]
	assert.Equal(t, probe.Drop, m.Outcome)
	assert.Contains(t, m.Reason, "no valid recipient")
	require.NotEmpty(t, m.Rejected)
	assert.Equal(t, "nobody@example.com", m.Rejected[0].Candidate.Address)

	// Nothing was deleted, nothing but the first two retrieved.
	assert.Len(t, srv.Mailbox("box"), 3)
	assert.NotContains(t, verbs(srv), "DELE")

	// The account's policy decides what "no recipient" means.
	a.Policy.NoRecipient = account.NoRecipientKeep
	r, err = probe.Preview(t.Context(), a, opts)
	require.NoError(t, err)
	assert.Equal(t, probe.Keep, r.Messages[1].Outcome)

	_, err = probe.Preview(t.Context(), a, nil)
	assert.Error(t, err, "a Resolver is required")
}

// A message carrying this host's loop stamp is decided as the Pipeline
// decides it: kept, or quarantined to the postmaster under that policy.
func TestPreviewLoop(t *testing.T) {
	_, a := server(t, "From: x@elsewhere.example\r\nTo: alice@example.com\r\n"+account.LoopField+": mx.test\r\nSubject: again\r\n\r\nbody\r\n")
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)
	opts := &probe.PreviewOptions{Resolver: resolve.New(dir, nil), LocalHost: "mx.test"}
	for _, tc := range []struct {
		policy account.LoopPolicy
		want   probe.Outcome
	}{{account.LoopKeep, probe.Keep}, {account.LoopQuarantine, probe.Postmaster}} {
		a.Policy.Loop, a.Policy.Postmaster = tc.policy, "postmaster@example.com"
		r, err := probe.Preview(t.Context(), a, opts)
		require.NoError(t, err)
		require.Len(t, r.Messages, 1)
		assert.Equal(t, tc.want, r.Messages[0].Outcome, string(tc.policy))
		assert.Contains(t, r.Messages[0].Reason, "loop")
	}
}
