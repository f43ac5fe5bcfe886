package account

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// RedactedSecret is what secrets are replaced with in [Account.Redacted] and in
// formatted or logged accounts.
const RedactedSecret = "[redacted]"

// Redacted returns a copy of a with every secret replaced by
// [RedactedSecret] (when set), safe to show on an admin page, in an API
// response or in a log: Auth.Secret, TLS.ClientKey and the password in
// Proxy's userinfo (socks5://user:[redacted]@host:port, percent-encoded
// as URLs are; a Proxy that does not parse as a URL but holds an "@" is
// replaced whole).
func (a Account) Redacted() Account {
	c := a.Clone()
	c.Auth = a.Auth.redacted()
	c.TLS = a.TLS.redacted()
	c.Proxy = RedactProxy(a.Proxy)
	return c
}

// RedactProxy returns the proxy URL p with the password of its userinfo
// replaced by [RedactedSecret]; p itself when it has none.
func RedactProxy(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.User == nil {
		if strings.Contains(p, "@") {
			return RedactedSecret // unparsed userinfo: hide it all
		}
		return p
	}
	if _, ok := u.User.Password(); !ok {
		return p
	}
	u.User = url.UserPassword(u.User.Username(), RedactedSecret)
	return u.String()
}

// ProxyPassword returns the password of the proxy URL's userinfo, or "".
func (a Account) ProxyPassword() string {
	u, err := url.Parse(a.Proxy)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// GoString formats the account for %#v with its secrets redacted.
func (a Account) GoString() string { return fmt.Sprintf("%#v", accountNoMethods(a.Redacted())) }

func (a Auth) redacted() Auth {
	if a.Secret != "" {
		a.Secret = RedactedSecret
	}
	return a
}

func (t TLS) redacted() TLS {
	if t.ClientKey != "" {
		t.ClientKey = RedactedSecret
	}
	t.PinSHA256 = slices.Clone(t.PinSHA256)
	return t
}

// LogValue implements [slog.LogValuer]: the account is logged by its
// identifying fields only, never with a secret.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("host", a.Host),
		slog.Int("port", a.Port),
		slog.String("domain", a.Domain),
		slog.String("user", a.Auth.User),
	)
}

// String returns a short description without secrets, such as
// "acct1 (user@pop.example.net:995 for example.com)".
func (a Account) String() string {
	return fmt.Sprintf("%s (%s@%s for %s)", a.ID, a.Auth.User, a.Address(), a.Domain)
}

// String formats the credentials with the secret redacted, so that %v, %+v
// and %#v of an Account never print it.
func (a Auth) String() string { return fmt.Sprintf("%+v", authNoMethods(a.redacted())) }

// GoString is like String, for %#v.
func (a Auth) GoString() string { return fmt.Sprintf("%#v", authNoMethods(a.redacted())) }

// LogValue implements [slog.LogValuer] without the secret.
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", a.User), slog.String("mechanism", string(a.Mechanism)))
}

// String formats the TLS settings with the client key redacted.
func (t TLS) String() string { return fmt.Sprintf("%+v", tlsNoMethods(t.redacted())) }

// GoString is like String, for %#v.
func (t TLS) GoString() string { return fmt.Sprintf("%#v", tlsNoMethods(t.redacted())) }

// LogValue implements [slog.LogValuer] without the client key.
func (t TLS) LogValue() slog.Value {
	return slog.GroupValue(slog.String("server_name", t.ServerName), slog.Int("pins", len(t.PinSHA256)),
		slog.Bool("client_cert", t.ClientCert != ""))
}

type (
	accountNoMethods Account
	authNoMethods    Auth
	tlsNoMethods     TLS
)

// Clone returns a deep copy of a: its slices and maps are not shared.
func (a Account) Clone() Account {
	c := a
	c.ExtraDomains = slices.Clone(a.ExtraDomains)
	c.TLS.PinSHA256 = slices.Clone(a.TLS.PinSHA256)
	c.Parsing.EnvelopeHeaders = slices.Clone(a.Parsing.EnvelopeHeaders)
	c.Parsing.ReceivedBy = slices.Clone(a.Parsing.ReceivedBy)
	c.Parsing.ExtraHeaders = slices.Clone(a.Parsing.ExtraHeaders)
	if a.Resolving.Aliases != nil {
		c.Resolving.Aliases = make(map[string][]string, len(a.Resolving.Aliases))
		for k, v := range a.Resolving.Aliases {
			c.Resolving.Aliases[k] = slices.Clone(v)
		}
	}
	if a.Resolving.Rules != nil {
		c.Resolving.Rules = make([]Rule, len(a.Resolving.Rules))
		for i, r := range a.Resolving.Rules {
			r.Users = slices.Clone(r.Users)
			c.Resolving.Rules[i] = r
		}
	}
	return c
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new random account ID: 26 characters from a-z and 2-7
// (128 random bits), safe in URLs and file names.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return idEncoding.EncodeToString(b[:])
}

// Domains returns the account's Domain and ExtraDomains normalised with
// [NormalizeDomain], without duplicates; invalid names are left out.
func (a Account) Domains() []string {
	set := map[string]struct{}{}
	for _, d := range append([]string{a.Domain}, a.ExtraDomains...) {
		if n, err := NormalizeDomain(d); err == nil {
			set[n] = struct{}{}
		}
	}
	return slices.Sorted(maps.Keys(set))
}
