package pop

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

func TestTLSConfigRootCAsFile(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, s.CAPEM(), 0o600))
	a := testAccount(t, s, account.SecurityTLS, account.MechanismUser)
	a.TLS.RootCAs = ""
	a.TLS.RootCAsFile = caFile
	a.Domain = "example.com"
	require.NoError(t, a.Validate())
	both := a
	both.TLS.RootCAs = string(s.CAPEM())
	require.ErrorContains(t, both.Validate(), "TLS.RootCAsFile")
	relative := a
	relative.TLS.RootCAsFile = "ca.pem"
	require.ErrorContains(t, relative.Validate(), "TLS.RootCAsFile")

	cfg, err := TLSConfig(a)
	require.NoError(t, err)
	require.NotNil(t, cfg.RootCAs, "the file's roots replace the system's")
	c, err := tls.Dial("tcp", s.Addr(), cfg)
	require.NoError(t, err, "the server's certificate verifies against the file's CA")
	require.NoError(t, c.Close())

	for name, setup := range map[string]func() string{
		"missing": func() string { return filepath.Join(dir, "nope.pem") },
		"not PEM": func() string {
			p := filepath.Join(dir, "junk.pem")
			require.NoError(t, os.WriteFile(p, []byte("junk"), 0o600))
			return p
		},
	} {
		a.TLS.RootCAsFile = setup()
		_, err := TLSConfig(a)
		assert.ErrorContains(t, err, "tls.root_cas_file", name)
	}
}
