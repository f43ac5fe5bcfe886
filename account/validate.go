package account

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// A ValidationError names one field of an [Account] and what is wrong with it.
// Field is the Go path of the field, such as "Port", "ExtraDomains[1]" or
// "Resolving.Rules[0].Pattern".
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "account: " + e.Field + ": " + e.Reason
}

// ValidationErrors is what [Account.Validate] returns: every problem found,
// in field order. [errors.As] with a *ValidationError target finds the first.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	switch len(es) {
	case 0:
		return "account: no validation errors"
	case 1:
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "account: %d problems: ", len(es))
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Field + ": " + e.Reason)
	}
	return b.String()
}

// Unwrap returns the individual errors, for [errors.Is] and [errors.As].
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// MaxIDLength is the longest accepted account ID.
const MaxIDLength = 128

// domainProfile is strict IDNA 2008 / UTS #46 lookup processing with the DNS
// length limits and the STD3 ASCII rules (letters, digits, hyphen).
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.CheckHyphens(true),
	idna.CheckJoiners(true),
	idna.Transitional(false),
)

// NormalizeDomain returns the canonical form of a domain name: lower-case
// ASCII, internationalised labels in their A-label (Punycode) form, without a
// trailing dot. It fails for anything that is not a valid host name under
// strict IDNA (UTS #46) rules.
func NormalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(domain, ".")
	if d == "" {
		return "", fmt.Errorf("account: empty domain")
	}
	a, err := domainProfile.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("account: invalid domain %q: %w", domain, err)
	}
	return strings.ToLower(a), nil
}

// Validate checks the account and returns nil or [ValidationErrors] naming
// every field at fault and why. An empty ID is accepted, because
// [MutableStore.Put] assigns one; every stored account has an ID.
func (a Account) Validate() error {
	v := &validator{}
	v.account(&a)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type validator struct {
	errs ValidationErrors
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// multiline fields may hold CR and LF (PEM); NUL is refused everywhere.
var multiline = map[string]bool{
	"TLS.RootCAs":    true,
	"TLS.ClientCert": true,
	"TLS.ClientKey":  true,
}

func (v *validator) account(a *Account) {
	v.strings("", reflect.ValueOf(*a))
	if a.ID != "" {
		v.id(a.ID)
	}
	v.host(a)
	if a.Port < 0 || a.Port > 65535 {
		v.add("Port", "%d is out of range 1-65535 (0 means the default)", a.Port)
	}
	v.domains(a)
	switch a.Security {
	case "", SecurityTLS, SecurityStartTLS, SecurityNone:
	default:
		v.add("Security", "unknown mode %q (want tls, starttls or none)", string(a.Security))
	}
	v.tls(a)
	v.auth(a)
	v.proxy(a.Proxy)
	v.timeouts(a.Timeouts)
	v.retrieval(a)
	v.parsing(&a.Parsing)
	v.resolving(&a.Resolving)
	v.policy(a)
}

// strings walks every string reachable from rv (fields, slices, map keys and
// values) and refuses control characters that would split a protocol line or a
// log record.
func (v *validator) strings(path string, rv reflect.Value) {
	switch rv.Kind() {
	case reflect.String:
		s := rv.String()
		if !utf8.ValidString(s) {
			v.add(path, "is not valid UTF-8")
			return
		}
		if strings.ContainsRune(s, 0) {
			v.add(path, "contains a NUL character")
		} else if !multiline[path] && strings.ContainsAny(s, "\r\n") {
			v.add(path, "contains a line break (CR or LF)")
		}
	case reflect.Struct:
		t := rv.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			v.strings(join(path, t.Field(i).Name), rv.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			v.strings(path+"["+strconv.Itoa(i)+"]", rv.Index(i))
		}
	case reflect.Map:
		iter := rv.MapRange()
		for iter.Next() {
			k := iter.Key()
			name := path + "[" + strconv.Quote(fmt.Sprint(k.Interface())) + "]"
			v.strings(name+" (key)", k)
			v.strings(name, iter.Value())
		}
	case reflect.Pointer, reflect.Interface:
		if !rv.IsNil() {
			v.strings(path, rv.Elem())
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (v *validator) id(id string) {
	if id == "." || id == ".." {
		v.add("ID", "%q is not allowed (it names a directory in a URL or path)", id)
		return
	}
	if len(id) > MaxIDLength {
		v.add("ID", "longer than %d characters", MaxIDLength)
		return
	}
	for _, r := range id {
		if !isIDRune(r) {
			v.add("ID", "contains %q; use letters, digits and - _ . : @", r)
			return
		}
	}
}

func isIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("-_.:@", r)
}

func (v *validator) host(a *Account) {
	h := a.Host
	switch {
	case h == "":
		v.add("Host", "is empty")
	case net.ParseIP(h) != nil:
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") && net.ParseIP(h[1:len(h)-1]) != nil:
		v.add("Host", "write an IPv6 address without brackets")
	default:
		if _, err := NormalizeDomain(h); err != nil {
			v.add("Host", "%q is neither an IP address nor a valid host name", h)
		}
	}
}

func (v *validator) domains(a *Account) {
	seen := map[string]string{}
	check := func(field, d string) {
		if d == "" {
			v.add(field, "is empty")
			return
		}
		n, err := NormalizeDomain(d)
		if err != nil {
			v.add(field, "%q is not a valid domain name (IDNA)", d)
			return
		}
		if prev, ok := seen[n]; ok {
			v.add(field, "%q repeats %s", d, prev)
			return
		}
		seen[n] = field
	}
	check("Domain", a.Domain)
	for i, d := range a.ExtraDomains {
		check("ExtraDomains["+strconv.Itoa(i)+"]", d)
	}
}

func (v *validator) tls(a *Account) {
	t := a.TLS
	if t.ServerName != "" {
		if _, err := NormalizeDomain(t.ServerName); err != nil && net.ParseIP(t.ServerName) == nil {
			v.add("TLS.ServerName", "%q is not a valid host name", t.ServerName)
		}
	}
	if t.RootCAs != "" {
		if n, err := parseCerts(t.RootCAs); err != nil {
			v.add("TLS.RootCAs", "%v", err)
		} else if n == 0 {
			v.add("TLS.RootCAs", "holds no PEM CERTIFICATE block")
		}
	}
	if t.RootCAsFile != "" {
		switch {
		case t.RootCAs != "":
			v.add("TLS.RootCAsFile", "is set together with RootCAs; set one of them")
		case !filepath.IsAbs(t.RootCAsFile):
			v.add("TLS.RootCAsFile", "%q is not an absolute path", t.RootCAsFile)
		}
	}
	for i, p := range t.PinSHA256 {
		b, err := hex.DecodeString(p)
		if err != nil || len(b) != 32 {
			v.add("TLS.PinSHA256["+strconv.Itoa(i)+"]", "want 64 hexadecimal digits (a SHA-256 digest)")
		}
	}
	switch {
	case t.ClientCert == "" && t.ClientKey == "":
	case t.ClientCert == "":
		v.add("TLS.ClientCert", "is empty but ClientKey is set")
	case t.ClientKey == "":
		v.add("TLS.ClientKey", "is empty but ClientCert is set")
	default:
		if _, err := tls.X509KeyPair([]byte(t.ClientCert), []byte(t.ClientKey)); err != nil {
			// The error text of X509KeyPair never includes key material.
			v.add("TLS.ClientCert", "unusable certificate and key pair: %v", err)
		}
	}
}

func parseCerts(s string) (int, error) {
	rest := []byte(s)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return n, fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	return n, nil
}

func (v *validator) auth(a *Account) {
	m := a.Auth.Mechanism
	switch m {
	case "", MechanismAuto, MechanismUser, MechanismAPOP, MechanismPlain, MechanismLogin,
		MechanismCRAMMD5, MechanismSCRAMSHA1, MechanismSCRAMSHA256, MechanismXOAUTH2,
		MechanismOAUTHBEARER, MechanismExternal:
	default:
		v.add("Auth.Mechanism", "unknown mechanism %q", string(m))
		return
	}
	if a.Auth.User == "" && m != MechanismExternal {
		v.add("Auth.User", "is empty")
	}
	if m == MechanismExternal && a.TLS.ClientCert == "" {
		v.add("Auth.Mechanism", "external needs TLS.ClientCert and TLS.ClientKey")
	}
	if m == MechanismExternal && a.Security == SecurityNone {
		v.add("Auth.Mechanism", "external needs TLS (Security is none)")
	}
	if a.Security == SecurityNone && !a.Auth.AllowInsecure {
		switch m {
		case MechanismUser, MechanismAPOP, MechanismPlain, MechanismLogin:
			v.add("Auth.Mechanism", "%s without TLS exposes the password; set Auth.AllowInsecure to accept that", m)
		}
	}
}

func (v *validator) proxy(p string) {
	if p == "" {
		return
	}
	u, err := url.Parse(p)
	if err != nil {
		v.add("Proxy", "not a URL")
		return
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		v.add("Proxy", "scheme %q is not supported (want socks5)", u.Scheme)
		return
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		v.add("Proxy", "want socks5://host:port")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add("Proxy", "port %q is out of range", port)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		v.add("Proxy", "want socks5://[user:password@]host:port with nothing after the port")
	}
}

func (v *validator) timeouts(t Timeouts) {
	// MinRate may be negative: it turns the rate floor off.
	for _, f := range []struct {
		name string
		n    int64
	}{
		{"Dial", int64(t.Dial)}, {"Command", int64(t.Command)}, {"Data", int64(t.Data)},
		{"Message", int64(t.Message)}, {"RateWindow", int64(t.RateWindow)}, {"Session", int64(t.Session)},
		{"Window", int64(t.Window)}, {"MaxListing", int64(t.MaxListing)},
	} {
		if f.n < 0 {
			v.add("Timeouts."+f.name, "is negative")
		}
	}
}

func (v *validator) retrieval(a *Account) {
	r := a.Retrieval
	if r.DeleteAfterDays < 0 {
		v.add("Retrieval.DeleteAfterDays", "is negative")
	} else if r.DeleteAfterDays > 0 && !r.LeaveOnServer {
		v.add("Retrieval.DeleteAfterDays", "needs LeaveOnServer (without it every delivered message is deleted at once)")
	}
	if r.MaxMessageSize < 0 {
		v.add("Retrieval.MaxMessageSize", "is negative")
	}
	switch r.Oversize {
	case "", OversizeSkip:
	case OversizeDelete, OversizeNotify:
		if r.MaxMessageSize == 0 {
			v.add("Retrieval.Oversize", "%s has no effect without MaxMessageSize", r.Oversize)
		}
		if r.Oversize == OversizeNotify && a.Policy.Postmaster == "" {
			v.add("Retrieval.Oversize", "notify needs Policy.Postmaster")
		}
	default:
		v.add("Retrieval.Oversize", "unknown policy %q (want skip, delete or notify)", string(r.Oversize))
	}
	if r.MaxMessages < 0 {
		v.add("Retrieval.MaxMessages", "is negative")
	}
	if r.MaxBytes < 0 {
		v.add("Retrieval.MaxBytes", "is negative")
	}
	if r.Interval < 0 {
		v.add("Retrieval.Interval", "is negative")
	}
}

func (v *validator) parsing(p *Parsing) {
	switch p.Mode {
	case "", ModeChain, ModeUnion:
	case ModeEnvelopeOnly:
		if p.NoEnvelope {
			v.add("Parsing.Mode", "envelope-only conflicts with NoEnvelope")
		}
	default:
		v.add("Parsing.Mode", "unknown mode %q (want chain, union or envelope-only)", string(p.Mode))
	}
	if p.NoEnvelope && p.NoReceived && p.NoGuess && !p.SubjectAddress {
		v.add("Parsing", "NoEnvelope, NoReceived and NoGuess together leave no way to find a recipient")
	}
	if p.SkipReceived < 0 {
		v.add("Parsing.SkipReceived", "is negative")
	}
	for i, h := range p.EnvelopeHeaders {
		name, n, hasN := strings.Cut(h, ":")
		field := "Parsing.EnvelopeHeaders[" + strconv.Itoa(i) + "]"
		if !isFieldName(name) {
			v.add(field, "%q is not a header field name", name)
		} else if hasN {
			if k, err := strconv.Atoi(n); err != nil || k < 1 {
				v.add(field, "occurrence %q is not a positive number", n)
			}
		}
	}
	for i, h := range p.ExtraHeaders {
		if !isFieldName(h) {
			v.add("Parsing.ExtraHeaders["+strconv.Itoa(i)+"]", "%q is not a header field name", h)
		}
	}
	for i, h := range p.ReceivedBy {
		if _, err := NormalizeDomain(h); err != nil {
			v.add("Parsing.ReceivedBy["+strconv.Itoa(i)+"]", "%q is not a valid host name", h)
		}
	}
}

// isFieldName reports whether s is an RFC 5322 field name (printable ASCII
// except colon).
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func (v *validator) resolving(r *Resolving) {
	if strings.ContainsRune(r.SubaddressSeparator, '@') {
		v.add("Resolving.SubaddressSeparator", "must not contain @")
	}
	if strings.ContainsAny(r.CatchAll, " \t") {
		v.add("Resolving.CatchAll", "contains white space")
	}
	if r.MaxRecipients < 0 {
		v.add("Resolving.MaxRecipients", "is negative")
	}
	for k, users := range r.Aliases {
		field := "Resolving.Aliases[" + strconv.Quote(k) + "]"
		if strings.TrimSpace(k) == "" {
			v.add(field, "empty alias")
		}
		if len(users) == 0 {
			v.add(field, "maps to no user")
		}
		for _, u := range users {
			if strings.TrimSpace(u) == "" {
				v.add(field, "contains an empty user")
				break
			}
		}
	}
	for i, rule := range r.Rules {
		field := "Resolving.Rules[" + strconv.Itoa(i) + "]"
		if rule.Pattern == "" {
			v.add(field+".Pattern", "is empty")
		}
		switch rule.Match {
		case "equals", "contains":
		case "regexp":
			if _, err := regexp.Compile("(?i)" + rule.Pattern); err != nil {
				v.add(field+".Pattern", "invalid regular expression: %v", err)
			}
		default:
			v.add(field+".Match", "unknown match %q (want equals, contains or regexp)", rule.Match)
		}
		switch rule.Action {
		case RuleDeliver:
			if len(rule.Users) == 0 {
				v.add(field+".Users", "deliver needs at least one user")
			}
		case RuleDeny:
			if len(rule.Users) > 0 {
				v.add(field+".Users", "deny takes no users")
			}
		default:
			v.add(field+".Action", "unknown action %q (want deliver or deny)", string(rule.Action))
		}
	}
}

func (v *validator) policy(a *Account) {
	p := a.Policy
	for _, c := range []struct {
		field, value string
		known        []string // the values; "" is the first
		postmaster   string   // the value that sends something to Policy.Postmaster
	}{
		{"Policy.NoRecipient", string(p.NoRecipient), []string{string(NoRecipientDelete), string(NoRecipientPostmaster), string(NoRecipientKeep)}, string(NoRecipientPostmaster)},
		{"Policy.Foreign", string(p.Foreign), []string{string(ForeignIgnore), string(ForeignReport)}, string(ForeignReport)},
		{"Policy.Loop", string(p.Loop), []string{string(LoopKeep), string(LoopQuarantine)}, string(LoopQuarantine)},
		{"Policy.Failed", string(p.Failed), []string{string(FailedDrop), string(FailedPostmaster)}, string(FailedPostmaster)},
	} {
		switch {
		case c.value == "":
		case !slices.Contains(c.known, c.value):
			want := strings.Join(c.known[:len(c.known)-1], ", ") + " or " + c.known[len(c.known)-1]
			v.add(c.field, "unknown policy %q (want %s)", c.value, want)
		case c.value == c.postmaster && p.Postmaster == "":
			v.add(c.field, "%s needs Policy.Postmaster", c.value)
		}
	}
	if p.Postmaster != "" {
		addr, err := mail.ParseAddress(p.Postmaster)
		if err != nil || addr.Name != "" || addr.Address != p.Postmaster {
			v.add("Policy.Postmaster", "%q is not a bare address (local@domain)", p.Postmaster)
			return
		}
		at := strings.LastIndexByte(addr.Address, '@')
		if _, err := NormalizeDomain(addr.Address[at+1:]); err != nil {
			v.add("Policy.Postmaster", "invalid domain in %q", p.Postmaster)
		}
	}
}
