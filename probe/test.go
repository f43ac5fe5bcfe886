package probe

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
)

// Step names a stage of [Test].
type Step string

const (
	StepConnect      Step = "connect"      // DNS, TCP, the proxy, the greeting
	StepTLS          Step = "tls"          // the handshake and the certificate's verification
	StepAuthenticate Step = "authenticate" // login
	StepStat         Step = "stat"         // CAPA after login and STAT
	StepQuit         Step = "quit"
)

// Certificate describes the server's leaf certificate.
type Certificate struct {
	Subject  string
	Issuer   string
	DNSNames []string
	NotAfter time.Time
	// PinSHA256 is the hex SHA-256 of the SubjectPublicKeyInfo, the form
	// account.TLS.PinSHA256 takes.
	PinSHA256 string
	// Verified is false when the certificate failed verification; it was
	// then read in a second handshake that verified nothing and sent
	// nothing.
	Verified bool
}

// Options configure Test and Preview. A nil *Options is the zero value.
type Options struct {
	// Downloader makes the session (a zero pop.Downloader when nil): its
	// Dialer, timeouts and DebugWriter apply.
	Downloader *pop.Downloader
}

func (o *Options) downloader() *pop.Downloader {
	if o == nil || o.Downloader == nil {
		return &pop.Downloader{}
	}
	return o.Downloader
}

// TestResult is what Test found.
type TestResult struct {
	Account string
	Address string // host:port dialled
	// TLS is true when the session was encrypted; Certificate is set when
	// a certificate was seen (also when its verification failed).
	TLS          bool
	Certificate  *Certificate
	Capabilities []string // after login, sorted
	Messages     int      // STAT
	Size         int64    // STAT, octets
	LoginDelay   time.Duration

	// Failed is the step that failed ("" when every step passed) and Err
	// its error.
	Failed Step
	Err    error
}

// OK reports whether every step passed.
func (r *TestResult) OK() bool { return r.Failed == "" }

// Verdict is a sentence for a person: what works, or what failed and what
// to look at.
func (r *TestResult) Verdict() string {
	switch r.Failed {
	case "":
		return fmt.Sprintf("OK: logged in to %s and found %d %s (%d octets); nothing was retrieved or deleted.",
			r.Address, r.Messages, plural(r.Messages, "message", "messages"), r.Size)
	case StepConnect:
		return fmt.Sprintf("FAILED to connect to %s: check the host, the port, the security mode and any firewall or proxy.", r.Address)
	case StepTLS:
		if errors.Is(r.Err, pop.ErrPinMismatch) && r.Certificate != nil {
			return fmt.Sprintf("FAILED: the server's public key (pin %s) matches none of the account's pins: check tls.pin_sha256.", r.Certificate.PinSHA256)
		}
		if r.Certificate != nil && !r.Certificate.Verified {
			return fmt.Sprintf("FAILED: the server's certificate (%s, issued by %s) is not trusted for this host: check the host name or TLS server name, or trust its CA or pin it.", r.Certificate.Subject, r.Certificate.Issuer)
		}
		return "FAILED to set up TLS: check the security mode (tls on port 995, starttls on 110)."
	case StepAuthenticate:
		return "FAILED to log in: the server refused the user, the password or the mechanism."
	}
	return fmt.Sprintf("FAILED at %s after logging in.", r.Failed)
}

// Test tries a: connect (through its proxy), TLS as its Security says with
// the certificate verified, CAPA, login, CAPA again, STAT and QUIT.
// Nothing is retrieved or deleted. The result is never nil; its Failed and
// Err say where it stopped.
func Test(ctx context.Context, a account.Account, opts *Options) *TestResult {
	d := opts.downloader()
	r := &TestResult{Account: a.ID, Address: a.Address()}
	c, err := d.Connect(ctx, a)
	if err != nil {
		r.Failed, r.Err = classify(err), err
		if r.Failed == StepTLS {
			r.Certificate = peekCertificate(ctx, d, a)
		}
		return r
	}
	defer c.Close()
	if st, ok := c.TLSConnectionState(); ok {
		r.TLS = true
		if len(st.PeerCertificates) > 0 {
			r.Certificate = describe(st.PeerCertificates[0], true)
		}
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		r.Failed, r.Err = StepStat, err
		return r
	}
	for k := range caps {
		r.Capabilities = append(r.Capabilities, k)
	}
	slices.Sort(r.Capabilities)
	r.LoginDelay = time.Duration(caps.LoginDelay()) * time.Second
	if r.Messages, r.Size, err = c.Stat(ctx); err != nil {
		r.Failed, r.Err = StepStat, err
		return r
	}
	if err := c.Quit(ctx); err != nil {
		r.Failed, r.Err = StepQuit, err
	}
	return r
}

// authCommands are the verbs of a login.
var authCommands = []string{"USER", "PASS", "APOP", "AUTH"}

// classify says which step err of Connect belongs to.
func classify(err error) Step {
	if pe, ok := errors.AsType[*pop.Error](err); ok {
		if slices.Contains(authCommands, strings.ToUpper(pe.Command)) {
			return StepAuthenticate
		}
		if strings.EqualFold(pe.Command, "STLS") {
			return StepTLS
		}
		return StepConnect
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie),
		errors.As(err, &rhe), errors.As(err, &ae):
		return StepTLS
	case errors.Is(err, pop.ErrNoClientCert), errors.Is(err, pop.ErrNotSupported), errors.Is(err, pop.ErrPinMismatch):
		return StepTLS
	}
	if strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") {
		return StepTLS
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return StepConnect
	}
	if strings.Contains(strings.ToLower(err.Error()), "auth") || strings.Contains(err.Error(), "plaintext") {
		return StepAuthenticate
	}
	return StepConnect
}

// peekCertificate reads the server's certificate without verifying it, to
// show the administrator what the server presented. Nothing is sent but
// the handshake (and STLS for starttls).
func peekCertificate(ctx context.Context, d *pop.Downloader, a account.Account) *Certificate {
	if a.Security == account.SecurityNone || a.Proxy != "" {
		return nil // no TLS; or only the Downloader knows the proxy
	}
	name := a.TLS.ServerName
	if name == "" {
		name = a.Host
	}
	cfg := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // read only, to show the certificate
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var dl pop.Dialer = d.Dialer
	if dl == nil {
		dl = &net.Dialer{}
	}
	var c *pop.Client
	var err error
	if a.Security == account.SecurityStartTLS {
		c, err = pop.Dial(ctx, dl, a.Address(), nil, nil)
		if err == nil {
			err = c.StartTLS(ctx, cfg)
		}
	} else {
		c, err = pop.Dial(ctx, dl, a.Address(), cfg, nil)
	}
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return nil
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return nil
	}
	return describe(st.PeerCertificates[0], false)
}

func describe(cert *x509.Certificate, verified bool) *Certificate {
	pin := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return &Certificate{
		Subject:   cert.Subject.String(),
		Issuer:    cert.Issuer.String(),
		DNSNames:  cert.DNSNames,
		NotAfter:  cert.NotAfter,
		PinSHA256: hex.EncodeToString(pin[:]),
		Verified:  verified,
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
