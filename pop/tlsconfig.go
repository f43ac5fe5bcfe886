package pop

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/multidrop/multidrop/account"
)

// ErrPinMismatch is returned (wrapped) by the TLS handshake when the server's
// public key matches none of the account's TLS.PinSHA256.
var ErrPinMismatch = errors.New("pop: server public key matches no configured pin")

// TLSConfig builds the client TLS configuration of an account: the server
// certificate verified against TLS.ServerName (default Host) and
// TLS.RootCAs or the file TLS.RootCAsFile, read now (default the system
// roots), TLS 1.2 or newer, the client
// certificate when set, and, when TLS.PinSHA256 is set, a leaf whose
// SubjectPublicKeyInfo SHA-256 is one of the pins.
func TLSConfig(a account.Account) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName: a.TLS.ServerName,
		MinVersion: tls.VersionTLS12,
	}
	if cfg.ServerName == "" {
		cfg.ServerName = a.Host
		if h, _, err := net.SplitHostPort(a.Host); err == nil {
			cfg.ServerName = h
		}
	}
	if a.TLS.RootCAs != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(a.TLS.RootCAs)) {
			return nil, fmt.Errorf("pop: account %s: tls.root_cas holds no PEM certificate", a.ID)
		}
		cfg.RootCAs = pool
	} else if a.TLS.RootCAsFile != "" {
		pem, err := os.ReadFile(a.TLS.RootCAsFile)
		if err != nil {
			return nil, fmt.Errorf("pop: account %s: tls.root_cas_file: %w", a.ID, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("pop: account %s: tls.root_cas_file %s holds no PEM certificate", a.ID, a.TLS.RootCAsFile)
		}
		cfg.RootCAs = pool
	}
	if a.TLS.ClientCert != "" || a.TLS.ClientKey != "" {
		cert, err := tls.X509KeyPair([]byte(a.TLS.ClientCert), []byte(a.TLS.ClientKey))
		if err != nil {
			// The key is a credential: do not echo the parser's detail.
			return nil, fmt.Errorf("pop: account %s: tls.client_cert and tls.client_key do not form a key pair", a.ID)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if len(a.TLS.PinSHA256) > 0 {
		pins := make(map[string]bool, len(a.TLS.PinSHA256))
		for _, p := range a.TLS.PinSHA256 {
			p = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(p), ":", ""))
			if b, err := hex.DecodeString(p); err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("pop: account %s: tls.pin_sha256 %q is not a hex SHA-256 digest", a.ID, p)
			}
			pins[p] = true
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if !pins[hex.EncodeToString(sum[:])] {
				return ErrPinMismatch
			}
			return nil
		}
	}
	return cfg, nil
}
