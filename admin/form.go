package admin

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// kind is how a field is edited.
type kind int

const (
	kText kind = iota
	kNumber
	kDuration
	kCheck
	kSelect
	kLines  // textarea, one value a line
	kPEM    // textarea kept verbatim
	kSecret // write-only: password input or textarea, never filled in
	kSecretPEM
)

// field is one account field on the Edit POP Account screen. Name is the
// Go path of the field, as account.ValidationError.Field names it.
type field struct {
	Name    string
	Label   string
	Kind    kind
	Options []string
	Help    string
	// Default is the effective value when the field is left empty, as the
	// page shows it ("" for fields whose empty value is simply "none").
	Default string
	// OptionLabels are the human labels of Options, by value.
	OptionLabels map[string]string
	get          func(*account.Account) string
	set          func(*account.Account, string) error
}

// group is a titled set of fields. The Basic group is always shown; the
// others are collapsible Advanced groups.
type group struct {
	Title  string
	Basic  bool
	Fields []*field
}

// withDefault sets the effective default the page shows for f.
func withDefault(f *field, def string) *field { f.Default = def; return f }

// labelled gives the options of a choice field human labels.
func labelled(f *field, labels ...string) *field {
	f.OptionLabels = map[string]string{}
	for i, o := range f.Options {
		f.OptionLabels[o] = labels[i]
	}
	return f
}

// OptionLabel is the label of option o.
func (f *field) OptionLabel(o string) string {
	if l, ok := f.OptionLabels[o]; ok {
		return l
	}
	return o
}

func text(name, label, help string, p func(*account.Account) *string) *field {
	return &field{Name: name, Label: label, Kind: kText, Help: help,
		get: func(a *account.Account) string { return *p(a) },
		set: func(a *account.Account, v string) error { *p(a) = strings.TrimSpace(v); return nil }}
}

func check(name, label, help string, p func(*account.Account) *bool) *field {
	return &field{Name: name, Label: label, Kind: kCheck, Help: help,
		get: func(a *account.Account) string {
			if *p(a) {
				return "on"
			}
			return ""
		},
		set: func(a *account.Account, v string) error { *p(a) = v != ""; return nil }}
}

func number[T int | int64](name, label, help string, p func(*account.Account) *T) *field {
	return &field{Name: name, Label: label, Kind: kNumber, Help: help,
		get: func(a *account.Account) string {
			if *p(a) == 0 {
				return ""
			}
			return strconv.FormatInt(int64(*p(a)), 10)
		},
		set: func(a *account.Account, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				*p(a) = 0
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || int64(T(n)) != n {
				return fmt.Errorf("%q is not a whole number", v)
			}
			*p(a) = T(n)
			return nil
		}}
}

func duration(name, label, help string, p func(*account.Account) *time.Duration) *field {
	return &field{Name: name, Label: label, Kind: kDuration, Help: help,
		get: func(a *account.Account) string {
			if *p(a) == 0 {
				return ""
			}
			return p(a).String()
		},
		set: func(a *account.Account, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				*p(a) = 0
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 30s, 5m or 1h30m", v)
			}
			*p(a) = d
			return nil
		}}
}

func choice[T ~string](name, label, help string, opts []string, p func(*account.Account) *T) *field {
	return &field{Name: name, Label: label, Kind: kSelect, Options: opts, Help: help,
		get: func(a *account.Account) string { return string(*p(a)) },
		set: func(a *account.Account, v string) error { *p(a) = T(v); return nil }}
}

func lines(name, label, help string, p func(*account.Account) *[]string) *field {
	return &field{Name: name, Label: label, Kind: kLines, Help: help,
		get: func(a *account.Account) string { return strings.Join(*p(a), "\n") },
		set: func(a *account.Account, v string) error { *p(a) = splitLines(v); return nil }}
}

func pemField(name, label, help string, k kind, p func(*account.Account) *string) *field {
	return &field{Name: name, Label: label, Kind: k, Help: help,
		get: func(a *account.Account) string { return *p(a) },
		set: func(a *account.Account, v string) error {
			v = strings.ReplaceAll(strings.TrimSpace(v), "\r\n", "\n")
			if v != "" {
				v += "\n"
			}
			*p(a) = v
			return nil
		}}
}

func splitLines(v string) []string {
	var out []string
	for l := range strings.Lines(v) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// groups is the layout of the Edit POP Account screen: every field of
// account.Account except ID and Version, which the page handles itself.
// Basic holds what every account needs; the rest are Advanced groups,
// folded, each field with its effective default.
var groups = []group{
	{"Basic", true, []*field{
		check("Enabled", "Enabled", "Checked by the schedule and by Check Now.", func(a *account.Account) *bool { return &a.Enabled }),
		text("Description", "Description", "", func(a *account.Account) *string { return &a.Description }),
		text("Host", "POP server", "Host name or IP address.", func(a *account.Account) *string { return &a.Host }),
		withDefault(number("Port", "Port", "Empty: 995 with TLS from the start, 110 otherwise.", func(a *account.Account) *int { return &a.Port }), "995 / 110"),
		text("Domain", "Domain", "The local domain whose users receive this mailbox's mail.", func(a *account.Account) *string { return &a.Domain }),
		withDefault(labelled(choice("Security", "Security", "",
			[]string{"tls", "starttls", "none"}, func(a *account.Account) *account.Security { return &a.Security }),
			"TLS from the start (POP3S, port 995)", "STARTTLS: upgrade to TLS (required, port 110)", "None: plaintext (not recommended)"), "TLS from the start"),
		text("Auth.User", "User name", "", func(a *account.Account) *string { return &a.Auth.User }),
		{Name: "Auth.Secret", Label: "Password", Kind: kSecret, Help: "Or the OAuth token. Never shown again once saved.",
			get: func(a *account.Account) string { return a.Auth.Secret },
			set: func(a *account.Account, v string) error { a.Auth.Secret = v; return nil }},
	}},
	{"Connection and authentication", false, []*field{
		lines("ExtraDomains", "Further domains", "One a line: more local domains served by this mailbox.", func(a *account.Account) *[]string { return &a.ExtraDomains }),
		withDefault(labelled(choice("Auth.Mechanism", "Login method", "",
			[]string{"auto", "user", "apop", "plain", "login", "cram-md5", "scram-sha-1", "scram-sha-256", "xoauth2", "oauthbearer", "external"},
			func(a *account.Account) *account.Mechanism { return &a.Auth.Mechanism }),
			"Automatic: the strongest the server offers", "USER/PASS", "APOP", "SASL PLAIN", "SASL LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2 (OAuth token)", "OAUTHBEARER (OAuth token)", "EXTERNAL (client certificate)"),
			"Automatic"),
		check("Auth.AllowInsecure", "Allow a password without TLS", "Only for servers on a trusted network.", func(a *account.Account) *bool { return &a.Auth.AllowInsecure }),
		{Name: "Proxy", Label: "SOCKS5 proxy", Kind: kText, Help: "socks5://[user@]host:port; its password goes below.",
			get: func(a *account.Account) string { return withProxyPassword(a.Proxy, "") },
			set: func(a *account.Account, v string) error { a.Proxy = strings.TrimSpace(v); return nil }},
		{Name: "ProxyPassword", Label: "Proxy password", Kind: kSecret, Help: "For a proxy URL with a user. Never shown again once saved.",
			get: func(a *account.Account) string { return a.ProxyPassword() },
			set: func(a *account.Account, v string) error {
				if v != "" {
					a.Proxy = withProxyPassword(a.Proxy, v)
				}
				return nil
			}},
	}},
	{"Retrieval", false, []*field{
		check("Retrieval.LeaveOnServer", "Leave messages on the server", "", func(a *account.Account) *bool { return &a.Retrieval.LeaveOnServer }),
		withDefault(number("Retrieval.DeleteAfterDays", "Delete from the server after (days)", "With leave on server.", func(a *account.Account) *int { return &a.Retrieval.DeleteAfterDays }), "never"),
		withDefault(number("Retrieval.MaxMessageSize", "Largest message (octets)", "", func(a *account.Account) *int64 { return &a.Retrieval.MaxMessageSize }), "no limit"),
		withDefault(labelled(choice("Retrieval.Oversize", "Larger messages", "",
			[]string{"skip", "delete", "notify"}, func(a *account.Account) *account.OversizePolicy { return &a.Retrieval.Oversize }),
			"Leave them on the server", "Delete them", "Leave them and tell the postmaster"), "Leave them on the server"),
		check("Retrieval.SmallFirst", "Smallest messages first", "", func(a *account.Account) *bool { return &a.Retrieval.SmallFirst }),
		withDefault(number("Retrieval.MaxMessages", "Messages per check", "", func(a *account.Account) *int { return &a.Retrieval.MaxMessages }), "no cap"),
		withDefault(number("Retrieval.MaxBytes", "Octets per check", "", func(a *account.Account) *int64 { return &a.Retrieval.MaxBytes }), "no cap"),
		withDefault(duration("Retrieval.Interval", "Check every", "Such as 5m or 1h.", func(a *account.Account) *time.Duration { return &a.Retrieval.Interval }), "the daemon's interval"),
	}},
	{"Parsing", false, []*field{
		withDefault(labelled(choice("Parsing.Mode", "How recipients are found", "",
			[]string{"chain", "union", "envelope-only"}, func(a *account.Account) *account.Mode { return &a.Parsing.Mode }),
			"First source with a local recipient decides", "All sources together", "Envelope headers only"), "First source with a local recipient decides"),
		withDefault(lines("Parsing.EnvelopeHeaders", "Envelope headers", "One a line, Name or Name:N.", func(a *account.Account) *[]string { return &a.Parsing.EnvelopeHeaders }), "the usual list (Delivered-To, X-Original-To, Envelope-To, ...)"),
		check("Parsing.NoEnvelope", "Ignore envelope headers", "", func(a *account.Account) *bool { return &a.Parsing.NoEnvelope }),
		withDefault(number("Parsing.SkipReceived", "Skip first Received fields", "", func(a *account.Account) *int { return &a.Parsing.SkipReceived }), "0"),
		check("Parsing.NoReceived", "Ignore Received \"for\"", "", func(a *account.Account) *bool { return &a.Parsing.NoReceived }),
		lines("Parsing.ReceivedBy", "Provider hosts (Received \"by\")", "One a line.", func(a *account.Account) *[]string { return &a.Parsing.ReceivedBy }),
		check("Parsing.NoGuess", "Do not guess from To, Cc, ...", "", func(a *account.Account) *bool { return &a.Parsing.NoGuess }),
		lines("Parsing.ExtraHeaders", "Further headers to read", "One a line.", func(a *account.Account) *[]string { return &a.Parsing.ExtraHeaders }),
		check("Parsing.SubjectAddress", "Read an (address) in the Subject", "", func(a *account.Account) *bool { return &a.Parsing.SubjectAddress }),
	}},
	{"Resolving", false, []*field{
		check("Resolving.Subdomains", "Subdomains are local", "", func(a *account.Account) *bool { return &a.Resolving.Subdomains }),
		text("Resolving.StripPrefix", "Strip prefix", "Removed from local parts.", func(a *account.Account) *string { return &a.Resolving.StripPrefix }),
		text("Resolving.StripSuffix", "Strip suffix", "", func(a *account.Account) *string { return &a.Resolving.StripSuffix }),
		{Name: "Resolving.Aliases", Label: "Aliases", Kind: kLines, Help: "One a line: alias: user, user",
			get: func(a *account.Account) string { return formatAliases(a.Resolving.Aliases) },
			set: func(a *account.Account, v string) (err error) { a.Resolving.Aliases, err = parseAliases(v); return err }},
		withDefault(text("Resolving.SubaddressSeparator", "Subaddress separator", "- turns subaddresses off.", func(a *account.Account) *string { return &a.Resolving.SubaddressSeparator }), "+"),
		{Name: "Resolving.Rules", Label: "Routing rules", Kind: kLines, Help: "One a line: match action pattern [users...], e.g. equals deliver sales@example.com alice bob",
			get: func(a *account.Account) string { return formatRules(a.Resolving.Rules) },
			set: func(a *account.Account, v string) (err error) { a.Resolving.Rules, err = parseRules(v); return err }},
		check("Resolving.MatchDisplayName", "Match display names", "", func(a *account.Account) *bool { return &a.Resolving.MatchDisplayName }),
		withDefault(text("Resolving.CatchAll", "Catch-all user", "Receives mail for unknown users of the domain.", func(a *account.Account) *string { return &a.Resolving.CatchAll }), "none"),
		withDefault(number("Resolving.MaxRecipients", "Most recipients a message", "", func(a *account.Account) *int { return &a.Resolving.MaxRecipients }), strconv.Itoa(resolve.DefaultMaxRecipients)),
	}},
	{"Policy", false, []*field{
		withDefault(labelled(choice("Policy.NoRecipient", "Message without a valid recipient", "",
			[]string{"delete", "postmaster", "keep"}, func(a *account.Account) *account.NoRecipientPolicy { return &a.Policy.NoRecipient }),
			"Delete it", "Send it to the postmaster", "Keep it on the server"), "Delete it"),
		withDefault(labelled(choice("Policy.Foreign", "Recipients of other domains", "",
			[]string{"ignore", "report"}, func(a *account.Account) *account.ForeignPolicy { return &a.Policy.Foreign }),
			"Ignore them", "Report them to the postmaster"), "Ignore them"),
		withDefault(labelled(choice("Policy.Loop", "Looping message", "",
			[]string{"keep", "quarantine"}, func(a *account.Account) *account.LoopPolicy { return &a.Policy.Loop }),
			"Keep it on the server", "Send it to the postmaster, then delete it"), "Keep it on the server"),
		withDefault(labelled(choice("Policy.Failed", "Recipient refused for good", "",
			[]string{"drop", "postmaster"}, func(a *account.Account) *account.FailedPolicy { return &a.Policy.Failed }),
			"Drop that recipient", "Send the message to the postmaster"), "Drop that recipient"),
		withDefault(text("Policy.Postmaster", "Postmaster address", "", func(a *account.Account) *string { return &a.Policy.Postmaster }), "postmaster@ the domain"),
	}},
	{"Timeouts", false, []*field{
		withDefault(duration("Timeouts.Dial", "Connect", "Such as 30s.", func(a *account.Account) *time.Duration { return &a.Timeouts.Dial }), pop.DefaultDialTimeout.String()),
		withDefault(duration("Timeouts.Command", "One command", "", func(a *account.Account) *time.Duration { return &a.Timeouts.Command }), pop.DefaultCommandTimeout.String()),
		withDefault(duration("Timeouts.Data", "Download idle", "", func(a *account.Account) *time.Duration { return &a.Timeouts.Data }), pop.DefaultDataTimeout.String()),
		withDefault(duration("Timeouts.Message", "One message in all", "", func(a *account.Account) *time.Duration { return &a.Timeouts.Message }), pop.DefaultMessageTimeout.String()),
		withDefault(number("Timeouts.MinRate", "Slowest download (octets/s)", "Below it the session ends; -1 turns the floor off.", func(a *account.Account) *int64 { return &a.Timeouts.MinRate }), fmt.Sprint(pop.DefaultMinRate)),
		withDefault(duration("Timeouts.RateWindow", "Measured over", "", func(a *account.Account) *time.Duration { return &a.Timeouts.RateWindow }), pop.DefaultRateWindow.String()),
		withDefault(duration("Timeouts.Session", "Whole session", "Login to QUIT; a cut session deletes nothing.", func(a *account.Account) *time.Duration { return &a.Timeouts.Session }), pop.DefaultSessionTimeout.String()),
	}},
	{"TLS details", false, []*field{
		withDefault(text("TLS.ServerName", "TLS server name", "", func(a *account.Account) *string { return &a.TLS.ServerName }), "the POP server name"),
		withDefault(pemField("TLS.RootCAs", "Trusted CA certificates (PEM)", "", kPEM, func(a *account.Account) *string { return &a.TLS.RootCAs }), "the system's"),
		lines("TLS.PinSHA256", "Pinned keys (SHA-256, hex)", "One a line; the server key must match one of them.", func(a *account.Account) *[]string { return &a.TLS.PinSHA256 }),
		pemField("TLS.ClientCert", "Client certificate (PEM)", "For EXTERNAL or servers that ask for one.", kPEM, func(a *account.Account) *string { return &a.TLS.ClientCert }),
		pemField("TLS.ClientKey", "Client key (PEM)", "Never shown again once saved.", kSecretPEM, func(a *account.Account) *string { return &a.TLS.ClientKey }),
	}},
}

func formatAliases(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ": " + strings.Join(m[k], ", ") + "\n")
	}
	return b.String()
}

func parseAliases(v string) (map[string][]string, error) {
	var m map[string][]string
	for i, l := range splitLines(v) {
		k, users, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want alias: user, user", i+1)
		}
		if m == nil {
			m = map[string][]string{}
		}
		k = strings.TrimSpace(k)
		for u := range strings.SplitSeq(users, ",") {
			if u = strings.TrimSpace(u); u != "" {
				m[k] = append(m[k], u)
			}
		}
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	return m, nil
}

func formatRules(rs []account.Rule) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(strings.Join(append([]string{r.Match, string(r.Action), r.Pattern}, r.Users...), " ") + "\n")
	}
	return b.String()
}

func parseRules(v string) ([]account.Rule, error) {
	var out []account.Rule
	for i, l := range splitLines(v) {
		f := strings.Fields(l)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want match action pattern [users...]", i+1)
		}
		out = append(out, account.Rule{Match: f[0], Action: account.RuleAction(f[1]), Pattern: f[2], Users: f[3:]})
	}
	return out, nil
}

// formView is the Edit POP Account screen's state.
type formView struct {
	New       bool
	ID        string
	Values    map[string]string
	Errors    map[string][]string
	Other     []string // errors that name no field of the form
	SecretSet bool
	KeySet    bool
	ProxySet  bool // a proxy password is stored
	Version   int64
	// Conflict says that someone else changed the account since the form
	// was opened; Version is theirs, so saving again replaces their change.
	Conflict bool
	// SecretRetype and KeyRetype say that a secret was typed in a
	// submission that was not saved: it is not sent back, so it must be
	// entered again.
	SecretRetype bool
	KeyRetype    bool
}

func (f *formView) has(name string) bool { return len(f.Errors[name]) > 0 }

func newFormView(a account.Account, isNew bool) *formView {
	f := &formView{New: isNew, ID: a.ID, Values: map[string]string{}, Errors: map[string][]string{},
		SecretSet: a.Auth.Secret != "", KeySet: a.TLS.ClientKey != "", Version: a.Version}
	if pw := a.ProxyPassword(); pw != "" {
		f.ProxySet = true
	}
	for _, g := range groups {
		for _, fl := range g.Fields {
			if fl.Kind == kSecret || fl.Kind == kSecretPEM {
				continue // write-only: never sent to the browser
			}
			f.Values[fl.Name] = fl.get(&a)
		}
	}
	return f
}

// accountFromForm builds an account from the submitted form, starting from
// base (the stored account, or the zero account for a new one), and returns
// the per-field parse errors.
func accountFromForm(form url.Values, base account.Account) (account.Account, map[string][]string) {
	a := base.Clone()
	errs := map[string][]string{}
	for _, g := range groups {
		for _, fl := range g.Fields {
			if err := fl.set(&a, form.Get(fl.Name)); err != nil {
				errs[fl.Name] = append(errs[fl.Name], err.Error())
			}
		}
	}
	return a, errs
}

// formValues returns the submitted values to show again, without secrets.
func formValues(form url.Values) map[string]string {
	v := map[string]string{}
	for _, g := range groups {
		for _, fl := range g.Fields {
			if fl.Kind != kSecret && fl.Kind != kSecretPEM {
				v[fl.Name] = form.Get(fl.Name)
			}
		}
	}
	return v
}

var indexRE = regexp.MustCompile(`^\[(\d+)\]`)

// fieldNames maps a validation error's Field to the form field that shows
// it and the text shown there.
func placeError(fields map[string]bool, e *account.ValidationError) (name, msg string) {
	path := e.Field
	for {
		if fields[path] {
			break
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return "", e.Field + ": " + e.Reason
		}
		path = path[:i]
	}
	rest := e.Field[len(path):]
	if m := indexRE.FindStringSubmatch(rest); m != nil {
		n, _ := strconv.Atoi(m[1])
		rest = "line " + strconv.Itoa(n+1) + rest[len(m[0]):]
	}
	rest = strings.TrimPrefix(rest, ".")
	if rest == "" {
		return path, e.Reason
	}
	return path, rest + ": " + e.Reason
}

var formFields = func() map[string]bool {
	m := map[string]bool{"ID": true}
	for _, g := range groups {
		for _, fl := range g.Fields {
			m[fl.Name] = true
		}
	}
	return m
}()
