package account_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

func testPEM(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func TestValidateSampleIsValid(t *testing.T) {
	require.NoError(t, accounttest.Sample("example.com").Validate())
	minimal := account.Account{Host: "pop.example.net", Domain: "example.com", Auth: account.Auth{User: "u"}}
	require.NoError(t, minimal.Validate())
}

func TestValidate(t *testing.T) {
	certPEM, keyPEM := testPEM(t)
	otherCert, _ := testPEM(t)
	tests := []struct {
		name   string
		modify func(a *account.Account)
		fields []string // every field reported, in order
	}{
		{"ok IDN domain", func(a *account.Account) { a.Domain = "bücher.example"; a.ExtraDomains = nil }, nil},
		{"ok IPv6 host", func(a *account.Account) { a.Host = "::1" }, nil},
		{"ok IPv4 host", func(a *account.Account) { a.Host = "192.0.2.1" }, nil},
		{"ok client cert", func(a *account.Account) {
			a.TLS.ClientCert, a.TLS.ClientKey = certPEM, keyPEM
			a.TLS.RootCAs = otherCert
			a.Auth.Mechanism = account.MechanismExternal
		}, nil},
		{"ok proxy", func(a *account.Account) { a.Proxy = "socks5://u:p@127.0.0.1:1080" }, nil},
		{"ok plaintext allowed", func(a *account.Account) {
			a.Security = account.SecurityNone
			a.Auth.Mechanism = account.MechanismUser
			a.Auth.AllowInsecure = true
		}, nil},
		{"bad id", func(a *account.Account) { a.ID = "a/b" }, []string{"ID"}},
		{"long id", func(a *account.Account) { a.ID = strings.Repeat("a", 129) }, []string{"ID"}},
		{"dot id", func(a *account.Account) { a.ID = "." }, []string{"ID"}},
		{"dot-dot id", func(a *account.Account) { a.ID = ".." }, []string{"ID"}},
		{"ok dots in id", func(a *account.Account) { a.ID = "...a.b" }, nil},
		{"empty host", func(a *account.Account) { a.Host = "" }, []string{"Host"}},
		{"bad host", func(a *account.Account) { a.Host = "pop example.com" }, []string{"Host"}},
		{"bracketed host", func(a *account.Account) { a.Host = "[::1]" }, []string{"Host"}},
		{"port high", func(a *account.Account) { a.Port = 65536 }, []string{"Port"}},
		{"port negative", func(a *account.Account) { a.Port = -1 }, []string{"Port"}},
		{"empty domain", func(a *account.Account) { a.Domain = "" }, []string{"Domain"}},
		{"bad domain", func(a *account.Account) { a.Domain = "exa_mple.com" }, []string{"Domain"}},
		{"hyphen domain", func(a *account.Account) { a.Domain = "-bad.example" }, []string{"Domain"}},
		{"long label", func(a *account.Account) { a.Domain = strings.Repeat("a", 64) + ".example" }, []string{"Domain"}},
		{"bad extra domain", func(a *account.Account) { a.ExtraDomains = []string{"ok.example", "bad..example"} },
			[]string{"ExtraDomains[1]"}},
		{"duplicate extra domain", func(a *account.Account) { a.ExtraDomains = []string{"EXAMPLE.com"} },
			[]string{"ExtraDomains[0]"}},
		{"security", func(a *account.Account) { a.Security = "ssl" }, []string{"Security"}},
		{"mechanism", func(a *account.Account) { a.Auth.Mechanism = "digest-md5" }, []string{"Auth.Mechanism"}},
		{"no user", func(a *account.Account) { a.Auth.User = "" }, []string{"Auth.User"}},
		{"plaintext password", func(a *account.Account) {
			a.Security = account.SecurityNone
			a.Auth.Mechanism = account.MechanismPlain
		}, []string{"Auth.Mechanism"}},
		{"external without cert", func(a *account.Account) { a.Auth.Mechanism = account.MechanismExternal },
			[]string{"Auth.Mechanism"}},
		{"pin not hex", func(a *account.Account) { a.TLS.PinSHA256 = []string{strings.Repeat("g", 64)} },
			[]string{"TLS.PinSHA256[0]"}},
		{"pin short", func(a *account.Account) { a.TLS.PinSHA256 = []string{"abcd"} }, []string{"TLS.PinSHA256[0]"}},
		{"roots not PEM", func(a *account.Account) { a.TLS.RootCAs = "not pem" }, []string{"TLS.RootCAs"}},
		{"roots bad cert", func(a *account.Account) {
			a.TLS.RootCAs = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
		}, []string{"TLS.RootCAs"}},
		{"cert without key", func(a *account.Account) { a.TLS.ClientCert = certPEM }, []string{"TLS.ClientKey"}},
		{"mismatched pair", func(a *account.Account) { a.TLS.ClientCert, a.TLS.ClientKey = otherCert, keyPEM },
			[]string{"TLS.ClientCert"}},
		{"proxy http", func(a *account.Account) { a.Proxy = "http://127.0.0.1:8080" }, []string{"Proxy"}},
		{"proxy no port", func(a *account.Account) { a.Proxy = "socks5://127.0.0.1" }, []string{"Proxy"}},
		{"negative timeouts", func(a *account.Account) {
			a.Timeouts.Dial, a.Timeouts.Data, a.Timeouts.Message, a.Timeouts.RateWindow, a.Timeouts.Session = -1, -1, -1, -1, -1
			a.Timeouts.Window, a.Timeouts.MaxListing, a.Timeouts.MinRate = -1, -1, -1 // a negative MinRate turns the floor off
		},
			[]string{"Timeouts.Dial", "Timeouts.Data", "Timeouts.Message", "Timeouts.RateWindow", "Timeouts.Session", "Timeouts.Window", "Timeouts.MaxListing"}},
		{"delete after without leave", func(a *account.Account) { a.Retrieval.LeaveOnServer = false },
			[]string{"Retrieval.DeleteAfterDays"}},
		{"negative sizes", func(a *account.Account) {
			a.Retrieval.MaxMessageSize = -1
			a.Retrieval.MaxMessages = -1
			a.Retrieval.MaxBytes = -1
			a.Retrieval.Interval = -time.Second
		}, []string{"Retrieval.MaxMessageSize", "Retrieval.MaxMessages", "Retrieval.MaxBytes", "Retrieval.Interval"}},
		{"oversize unknown", func(a *account.Account) { a.Retrieval.Oversize = "bounce" }, []string{"Retrieval.Oversize"}},
		{"oversize delete without size", func(a *account.Account) {
			a.Retrieval.Oversize = account.OversizeDelete
			a.Retrieval.MaxMessageSize = 0
		}, []string{"Retrieval.Oversize"}},
		{"notify without postmaster", func(a *account.Account) {
			a.Retrieval.Oversize = account.OversizeNotify
			a.Policy = account.Policy{}
		}, []string{"Retrieval.Oversize"}},
		{"mode", func(a *account.Account) { a.Parsing.Mode = "all" }, []string{"Parsing.Mode"}},
		{"envelope only without envelope", func(a *account.Account) {
			a.Parsing.Mode = account.ModeEnvelopeOnly
			a.Parsing.NoEnvelope = true
		}, []string{"Parsing.Mode"}},
		{"nothing to parse", func(a *account.Account) {
			a.Parsing.NoEnvelope, a.Parsing.NoReceived, a.Parsing.NoGuess = true, true, true
		}, []string{"Parsing"}},
		{"envelope header", func(a *account.Account) { a.Parsing.EnvelopeHeaders = []string{"X Bad", "Delivered-To:0"} },
			[]string{"Parsing.EnvelopeHeaders[0]", "Parsing.EnvelopeHeaders[1]"}},
		{"received by", func(a *account.Account) { a.Parsing.ReceivedBy = []string{"not a host"} },
			[]string{"Parsing.ReceivedBy[0]"}},
		{"skip received", func(a *account.Account) { a.Parsing.SkipReceived = -2 }, []string{"Parsing.SkipReceived"}},
		{"rule regexp", func(a *account.Account) { a.Resolving.Rules[0].Pattern = "(" }, []string{"Resolving.Rules[0].Pattern"}},
		{"rule match and action", func(a *account.Account) {
			a.Resolving.Rules[1].Match = "glob"
			a.Resolving.Rules[1].Action = "bounce"
		}, []string{"Resolving.Rules[1].Match", "Resolving.Rules[1].Action"}},
		{"deliver without users", func(a *account.Account) { a.Resolving.Rules[0].Users = nil },
			[]string{"Resolving.Rules[0].Users"}},
		{"deny with users", func(a *account.Account) { a.Resolving.Rules[1].Users = []string{"x"} },
			[]string{"Resolving.Rules[1].Users"}},
		{"alias without users", func(a *account.Account) { a.Resolving.Aliases["info"] = nil },
			[]string{`Resolving.Aliases["info"]`}},
		{"max recipients", func(a *account.Account) { a.Resolving.MaxRecipients = -1 }, []string{"Resolving.MaxRecipients"}},
		{"no recipient policy", func(a *account.Account) { a.Policy.NoRecipient = "bounce" }, []string{"Policy.NoRecipient"}},
		{"foreign policy", func(a *account.Account) { a.Policy.Foreign = "bounce" }, []string{"Policy.Foreign"}},
		{"loop policy", func(a *account.Account) { a.Policy.Loop = "bounce" }, []string{"Policy.Loop"}},
		{"failed policy", func(a *account.Account) { a.Policy.Failed = "retry" }, []string{"Policy.Failed"}},
		{"quarantine and failed without postmaster", func(a *account.Account) {
			a.Policy = account.Policy{Loop: account.LoopQuarantine, Failed: account.FailedPostmaster}
		}, []string{"Policy.Loop", "Policy.Failed"}},
		{"postmaster missing", func(a *account.Account) { a.Policy.Postmaster = "" },
			[]string{"Policy.NoRecipient", "Policy.Foreign"}},
		{"postmaster with name", func(a *account.Account) { a.Policy.Postmaster = "PM <pm@example.com>" },
			[]string{"Policy.Postmaster"}},
		{"CR in description", func(a *account.Account) { a.Description = "a\rb" }, []string{"Description"}},
		{"LF in secret", func(a *account.Account) { a.Auth.Secret = "pw\nQUIT" }, []string{"Auth.Secret"}},
		{"NUL in slice", func(a *account.Account) { a.Parsing.ExtraHeaders = []string{"ok", "X-A\x00"} },
			[]string{"Parsing.ExtraHeaders[1]", "Parsing.ExtraHeaders[1]"}},
		{"LF in map key", func(a *account.Account) { a.Resolving.Aliases["a\nb"] = []string{"x"} },
			[]string{`Resolving.Aliases["a\nb"] (key)`}},
		{"LF in map value", func(a *account.Account) { a.Resolving.Aliases["sales"] = []string{"x\n"} },
			[]string{`Resolving.Aliases["sales"][0]`}},
		{"LF in rule users", func(a *account.Account) { a.Resolving.Rules[0].Users = []string{"c\r\n"} },
			[]string{"Resolving.Rules[0].Users[0]"}},
		{"NUL in PEM", func(a *account.Account) { a.TLS.RootCAs = otherCert + "\x00" }, []string{"TLS.RootCAs"}},
		{"invalid UTF-8", func(a *account.Account) { a.Auth.User = "\xff" }, []string{"Auth.User"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := accounttest.Sample("example.com")
			tc.modify(&a)
			err := a.Validate()
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ves account.ValidationErrors
			require.ErrorAs(t, err, &ves)
			var got []string
			for _, ve := range ves {
				got = append(got, ve.Field)
				assert.Contains(t, err.Error(), ve.Field)
				assert.NotEmpty(t, ve.Reason)
			}
			assert.Equal(t, tc.fields, got, err.Error())
			var first *account.ValidationError
			require.ErrorAs(t, err, &first)
			assert.Equal(t, tc.fields[0], first.Field)
			assert.True(t, strings.HasPrefix(err.Error(), "account: "))
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestValidationErrorsMessage(t *testing.T) {
	a := accounttest.Sample("example.com")
	a.Host = ""
	a.Port = 99999
	err := a.Validate()
	assert.EqualError(t, err, "account: 2 problems: Host: is empty; Port: 99999 is out of range 1-65535 (0 means the default)")
	var ve *account.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.EqualError(t, ve, "account: Host: is empty")
}

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":           "example.com",
		"example.com.":          "example.com",
		"BÜCHER.example":        "xn--bcher-kva.example",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
	} {
		got, err := account.NormalizeDomain(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", ".", "a..b", "a b", "under_score.example", "-x.example", "x-.example", "xn--zz.example"} {
		_, err := account.NormalizeDomain(bad)
		assert.Error(t, err, bad)
	}
}

func TestSecretsNeverFormatted(t *testing.T) {
	certPEM, keyPEM := testPEM(t)
	a := accounttest.Sample("example.com")
	a.ID = "acct"
	a.Auth.Secret = "hunter2-secret"
	a.TLS.ClientCert, a.TLS.ClientKey = certPEM, keyPEM
	keyBody := strings.Split(keyPEM, "\n")[1]

	var buf bytes.Buffer
	text := slog.New(slog.NewTextHandler(&buf, nil))
	text.Info("check", "account", a, "auth", a.Auth, "tls", a.TLS)
	json := slog.New(slog.NewJSONHandler(&buf, nil))
	json.Info("check", "account", a, "auth", a.Auth, "tls", a.TLS)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&buf, verb+"\n", a)
		fmt.Fprintf(&buf, verb+"\n", &a)
		fmt.Fprintf(&buf, verb+"\n", a.Auth)
		fmt.Fprintf(&buf, verb+"\n", a.TLS)
	}
	r := a.Redacted()
	fmt.Fprintf(&buf, "%#v\n", authRaw(r.Auth))
	fmt.Fprintf(&buf, "%#v\n", tlsRaw(r.TLS))
	out := buf.String()
	assert.NotContains(t, out, "hunter2")
	assert.NotContains(t, out, keyBody)
	assert.Contains(t, out, "pop.example.com", "the rest is shown")
	assert.Contains(t, out, account.RedactedSecret)

	assert.Equal(t, "hunter2-secret", a.Auth.Secret, "Redacted does not change the original")
	assert.Equal(t, account.RedactedSecret, r.Auth.Secret)
	assert.Equal(t, account.RedactedSecret, r.TLS.ClientKey)
	assert.Equal(t, a.TLS.ClientCert, r.TLS.ClientCert)
	r.Resolving.Aliases["sales"][0] = "x"
	assert.Equal(t, "alice", a.Resolving.Aliases["sales"][0], "Redacted is a deep copy")
	empty := account.Account{}.Redacted()
	assert.Empty(t, empty.Auth.Secret, "an empty secret stays empty")
}

type (
	authRaw account.Auth
	tlsRaw  account.TLS
)

func TestCloneIsDeep(t *testing.T) {
	a := accounttest.Sample("example.com")
	c := a.Clone()
	require.Equal(t, a, c)
	c.ExtraDomains[0] = "x"
	c.TLS.PinSHA256[0] = "x"
	c.Parsing.EnvelopeHeaders[0] = "x"
	c.Parsing.ReceivedBy[0] = "x"
	c.Parsing.ExtraHeaders[0] = "x"
	c.Resolving.Aliases["sales"][0] = "x"
	c.Resolving.Rules[0].Users[0] = "x"
	assert.Equal(t, accounttest.Sample("example.com"), a)
}

func TestNewIDAndAddress(t *testing.T) {
	id := account.NewID()
	assert.Len(t, id, 26)
	assert.NotEqual(t, id, account.NewID())
	a := account.Account{ID: id, Host: "pop.example.com", Domain: "example.com", Auth: account.Auth{User: "u"}}
	require.NoError(t, a.Validate())
	assert.Equal(t, "pop.example.com:995", a.Address())
	a.Security = account.SecurityStartTLS
	assert.Equal(t, "pop.example.com:110", a.Address())
	a.Host, a.Port = "::1", 1100
	assert.Equal(t, "[::1]:1100", a.Address())
	assert.Equal(t, []string{"example.com"}, a.Domains())
}
