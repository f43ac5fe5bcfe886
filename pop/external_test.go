package pop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// clientPKI is a throw-away client CA that signs client certificates.
type clientPKI struct {
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newClientPKI(t *testing.T) *clientPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "multidrop test client CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &clientPKI{ca: ca, key: key, pool: pool, serial: 1}
}

// issue returns the PEM certificate and key of a client certificate for cn.
func (p *clientPKI) issue(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// externalAccount is an account that logs in with SASL EXTERNAL and the
// client certificate cert/key; it has no password.
func externalAccount(t *testing.T, s *poptest.Server, sec account.Security, cert, key string) account.Account {
	t.Helper()
	a := testAccount(t, s, sec, account.MechanismExternal)
	a.Auth.User, a.Auth.Secret = "", ""
	a.TLS.ClientCert, a.TLS.ClientKey = cert, key
	return a
}

func TestExternalLogin(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  account.Security
	}{
		{"implicit TLS", account.SecurityTLS},
		{"STLS", account.SecurityStartTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := newClientPKI(t)
			srv := &poptest.Server{ImplicitTLS: tc.sec == account.SecurityTLS, RequireTLS: true, ClientCAs: pki.pool}
			s := startServer(t, srv, messages([]byte("Subject: one\r\n\r\nbody 1\r\n"), []byte("Subject: two\r\n\r\n..dot\r\n"))...)
			cert, key := pki.issue(t, testUser)
			a := externalAccount(t, s, tc.sec, cert, key)

			var got [][]byte
			h := HandlerFunc(func(_ context.Context, m MessageInfo, body io.Reader) (Action, error) {
				b, err := io.ReadAll(body)
				got = append(got, b)
				return Delete, err
			})
			require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, h))
			assert.Equal(t, [][]byte{[]byte("Subject: one\r\n\r\nbody 1\r\n"), []byte("Subject: two\r\n\r\n..dot\r\n")}, got)
			assert.Empty(t, s.Mailbox(testUser), "deleted after QUIT")

			var auth []poptest.Command
			for _, c := range s.Transcript() {
				switch c.Name {
				case "AUTH":
					auth = append(auth, c)
				case "RETR":
					assert.Equal(t, testUser, c.User, "RETR after the EXTERNAL login")
				}
				assert.False(t, c.Name == "USER" || c.Name == "PASS" || c.Name == "APOP", "only EXTERNAL: %q", c.Line)
			}
			require.Len(t, auth, 1)
			assert.True(t, auth[0].TLS, "EXTERNAL only over TLS")
			assert.Equal(t, "AUTH EXTERNAL <redacted>", auth[0].Line, "initial response sent")
			assertConnsClosed(t)
		})
	}
}

func TestExternalRefused(t *testing.T) {
	pki := newClientPKI(t)
	other := newClientPKI(t) // a CA the server does not trust
	goodCert, goodKey := pki.issue(t, testUser)
	strangerCert, strangerKey := pki.issue(t, "mallory") // verified, but no such mailbox
	untrustedCert, untrustedKey := other.issue(t, testUser)

	for _, tc := range []struct {
		name      string
		sec       account.Security
		cert, key string
		// check asserts the error; dialed whether a connection was made;
		// authSent whether AUTH crossed the wire.
		check    func(t *testing.T, err error)
		dialed   bool
		authSent bool
	}{
		{
			name: "no client certificate", sec: account.SecurityTLS,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrNoClientCert) },
		},
		{
			name: "plaintext", sec: account.SecurityNone, cert: goodCert, key: goodKey,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrNoClientCert) },
		},
		{
			name: "certificate names no mailbox", sec: account.SecurityTLS, cert: strangerCert, key: strangerKey,
			check: func(t *testing.T, err error) {
				var perr *Error
				require.ErrorAs(t, err, &perr)
				assert.Equal(t, "AUTH", perr.Code)
				assert.Equal(t, "AUTH", perr.Command)
				assert.False(t, perr.Temporary())
			},
			dialed: true, authSent: true,
		},
		{
			name: "certificate of an untrusted CA", sec: account.SecurityTLS, cert: untrustedCert, key: untrustedKey,
			check: func(t *testing.T, err error) {
				// The server ends the handshake: no session, no login.
				require.Error(t, err)
				var perr *Error
				assert.NotErrorAs(t, err, &perr)
			},
			dialed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &poptest.Server{ImplicitTLS: tc.sec == account.SecurityTLS, ClientCAs: pki.pool},
				messages([]byte("Subject: kept\r\n\r\nx\r\n"))...)
			a := externalAccount(t, s, tc.sec, tc.cert, tc.key)
			h := HandlerFunc(func(context.Context, MessageInfo, io.Reader) (Action, error) {
				t.Error("no message may be offered")
				return Keep, nil
			})
			err := (&Downloader{}).Fetch(t.Context(), a, h)
			tc.check(t, err)
			assert.Equal(t, tc.dialed, s.Sessions() > 0, "connection made")
			assert.Equal(t, tc.authSent, sentAny(s, "AUTH"), "AUTH sent")
			assert.False(t, sentAny(s, "RETR", "DELE"))
			assert.Len(t, s.Mailbox(testUser), 1)
			assertConnsClosed(t)
		})
	}
}

// noIRExternal is EXTERNAL without an initial response: the server asks
// with an empty challenge and the client answers with an empty response
// (RFC 4422 appendix A, RFC 5034 section 4).
type noIRExternal struct{ identity string }

func (m noIRExternal) Start() (string, []byte, error) { return sasl.External, nil, nil }
func (m noIRExternal) Next(_ []byte) ([]byte, error)  { return []byte(m.identity), nil }

// TestExternalServer drives poptest's EXTERNAL mechanism directly with a
// Client: the authorization identity must be empty or the certificate's
// name, and without a verified certificate the answer is -ERR [AUTH].
func TestExternalServer(t *testing.T) {
	pki := newClientPKI(t)
	certPEM, keyPEM := pki.issue(t, testUser)
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		withCert bool
		mech     sasl.Client
		ok       bool
	}{
		{"empty authzid", true, sasl.NewExternalClient(""), true},
		{"authzid is the certificate's name", true, sasl.NewExternalClient(testUser), true},
		{"no initial response", true, noIRExternal{}, true},
		{"no initial response, authzid", true, noIRExternal{identity: testUser}, true},
		{"other authzid", true, sasl.NewExternalClient("bob"), false},
		{"no certificate", false, sasl.NewExternalClient(""), false},
		{"no certificate, authzid", false, sasl.NewExternalClient(testUser), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &poptest.Server{ImplicitTLS: true, ClientCAs: pki.pool}, messages([]byte("x\r\n"))...)
			s.AddUser("bob", "bob-pass")
			cfg := s.ClientTLSConfig()
			if tc.withCert {
				cfg.Certificates = []tls.Certificate{cert}
			}
			c, err := Dial(t.Context(), nil, s.Addr(), cfg, nil)
			require.NoError(t, err)
			defer c.Close()
			caps, err := c.Capabilities(t.Context())
			require.NoError(t, err)
			assert.Contains(t, caps.SASL(), "EXTERNAL")

			err = c.Auth(t.Context(), tc.mech)
			if !tc.ok {
				var perr *Error
				require.ErrorAs(t, err, &perr)
				assert.Equal(t, "AUTH", perr.Code)
				return
			}
			require.NoError(t, err)
			n, _, err := c.Stat(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 1, n, "alice's mailbox")
			require.NoError(t, c.Quit(t.Context()))
		})
	}
}

func TestExternalValidate(t *testing.T) {
	pki := newClientPKI(t)
	cert, key := pki.issue(t, testUser)
	base := account.Account{
		ID: "ext", Enabled: true, Host: "pop.example.net", Domain: "example.org",
		Security: account.SecurityTLS,
		TLS:      account.TLS{ClientCert: cert, ClientKey: key},
		Auth:     account.Auth{Mechanism: account.MechanismExternal},
	}
	require.NoError(t, base.Validate(), "EXTERNAL needs no user name nor secret")

	noCert := base
	noCert.TLS = account.TLS{}
	assert.ErrorContains(t, noCert.Validate(), "external needs TLS.ClientCert")

	plain := base
	plain.Security = account.SecurityNone
	assert.ErrorContains(t, plain.Validate(), "external needs TLS")
}
