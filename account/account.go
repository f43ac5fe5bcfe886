package account

import (
	"encoding/json"
	"fmt"
	"time"
)

// Security says how the connection to the POP server is protected.
// The zero value means [SecurityTLS].
type Security string

const (
	// SecurityTLS is implicit TLS from the first byte (POP3S, port 995, RFC 8314).
	// It is the default for new accounts.
	SecurityTLS Security = "tls"
	// SecurityStartTLS connects in plaintext and requires STLS (RFC 2595) before
	// anything else is sent; a server that does not offer it is an error.
	SecurityStartTLS Security = "starttls"
	// SecurityNone sends everything, credentials included, in plaintext.
	SecurityNone Security = "none"
)

// Mechanism names the authentication method. The zero value means
// [MechanismAuto].
type Mechanism string

const (
	MechanismAuto        Mechanism = "auto" // strongest offered after TLS: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN, USER
	MechanismUser        Mechanism = "user" // USER/PASS (RFC 1939)
	MechanismAPOP        Mechanism = "apop"
	MechanismPlain       Mechanism = "plain"
	MechanismLogin       Mechanism = "login"
	MechanismCRAMMD5     Mechanism = "cram-md5"
	MechanismSCRAMSHA1   Mechanism = "scram-sha-1"
	MechanismSCRAMSHA256 Mechanism = "scram-sha-256"
	MechanismXOAUTH2     Mechanism = "xoauth2"
	MechanismOAUTHBEARER Mechanism = "oauthbearer"
	MechanismExternal    Mechanism = "external" // TLS client certificate
)

// Account is one remote POP mailbox and everything needed to collect it.
// It is plain data: it can be stored, copied and compared.
type Account struct {
	ID          string `json:"id"`
	Enabled     bool   `json:"enabled"`
	Description string `json:"description,omitempty"`

	// Host and Port of the POP server. Port 0 means 995 with SecurityTLS,
	// 110 otherwise.
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`

	// Domain is the local domain whose users receive this mailbox's mail;
	// ExtraDomains are further local domains served by the same mailbox.
	Domain       string   `json:"domain"`
	ExtraDomains []string `json:"extra_domains,omitempty"`

	Security Security `json:"security,omitempty"`
	TLS      TLS      `json:"tls,omitempty"`
	Auth     Auth     `json:"auth"`

	// Proxy is an optional SOCKS5 proxy URL (socks5://[user:pass@]host:port).
	Proxy string `json:"proxy,omitempty"`

	Timeouts  Timeouts  `json:"timeouts,omitempty"`
	Retrieval Retrieval `json:"retrieval,omitempty"`
	Parsing   Parsing   `json:"parsing,omitempty"`
	Resolving Resolving `json:"resolving,omitempty"`
	Policy    Policy    `json:"policy,omitempty"`

	// Version is set by the store: 1 when the account is created, one more
	// on each write. [MutableStore.Update] compares it with the stored
	// version (compare-and-swap); it is ignored by Create and Put.
	Version int64 `json:"version,omitempty"`
}

// TLS holds the TLS settings of an account. The zero value verifies the
// server's certificate against the system roots and Host.
type TLS struct {
	// ServerName overrides the name verified in the certificate (default Host).
	ServerName string `json:"server_name,omitempty"`
	// RootCAs is PEM; when set it replaces the system roots.
	RootCAs string `json:"root_cas,omitempty"`
	// RootCAsFile is the absolute path of a PEM file read, instead of
	// RootCAs, each time a connection's TLS configuration is built (so a
	// renewed CA file needs no account edit). Set at most one of the two.
	RootCAsFile string `json:"root_cas_file,omitempty"`
	// PinSHA256 lists accepted SHA-256 digests (hex) of the server
	// certificate's SubjectPublicKeyInfo. When set, the leaf must match one of
	// them in addition to normal verification.
	PinSHA256 []string `json:"pin_sha256,omitempty"`
	// ClientCert and ClientKey are PEM, for EXTERNAL or servers that ask.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
}

// Auth holds the credentials of an account.
type Auth struct {
	User      string    `json:"user"`
	Secret    string    `json:"secret,omitempty"` // password or OAuth token; never logged
	Mechanism Mechanism `json:"mechanism,omitempty"`
	// AllowInsecure permits a plaintext password (USER/PASS, PLAIN, LOGIN,
	// APOP) over a connection without TLS. Off by default.
	AllowInsecure bool `json:"allow_insecure,omitempty"`
}

// Timeouts bound each wait of a session and its pipelining, so that a
// server that dribbles bytes cannot hold a check. Zero values mean the
// fetcher's defaults (pop.Downloader's own Timeouts, then the pop.Default*
// constants named below). In JSON the durations are Go duration strings
// ("10s", "1m30s"); plain numbers are read as nanoseconds, as older account
// files wrote them. Unknown keys are refused.
type Timeouts struct {
	// Dial bounds connecting, the TLS handshake and the greeting
	// (pop.DefaultDialTimeout, 30s).
	Dial time.Duration `json:"dial,omitempty"`
	// Command bounds one command in total: sending it and reading its whole
	// reply, the status line or the whole multi-line response (CAPA, LIST,
	// UIDL, ...), however the server spreads its bytes
	// (pop.DefaultCommandTimeout, 1m).
	Command time.Duration `json:"command,omitempty"`
	// Data is the longest silence inside a message body
	// (pop.DefaultDataTimeout, 2m).
	Data time.Duration `json:"data,omitempty"`
	// Message bounds the download of one message in total, the time the
	// receiver takes to consume it included (pop.DefaultMessageTimeout, 1h).
	Message time.Duration `json:"message,omitempty"`
	// MinRate is the slowest accepted body download, in octets per second
	// over each RateWindow of time spent waiting for the server (a slow
	// receiver does not count against the server) (pop.DefaultMinRate,
	// 1024); negative turns the floor off.
	MinRate int64 `json:"min_rate,omitempty"`
	// RateWindow is the window over which MinRate is measured
	// (pop.DefaultRateWindow, 1m).
	RateWindow time.Duration `json:"rate_window,omitempty"`
	// Session bounds a whole session, login to QUIT
	// (pop.DefaultSessionTimeout, 4h). Past it no command starts and a
	// wait in progress ends; the session is closed without QUIT, so
	// nothing is deleted: keep Retrieval.MaxBytes low enough for a
	// check to finish within it.
	Session time.Duration `json:"session,omitempty"`
	// Window is the most commands in flight when the server offers
	// PIPELINING (pop.DefaultWindow, 16); 1 means lock-step.
	Window int `json:"window,omitempty"`
	// MaxListing caps the lines of a CAPA, LIST or UIDL reply
	// (pop.DefaultMaxListing, 250000).
	MaxListing int `json:"max_listing,omitempty"`
}

// timeoutsJSON is Timeouts on the wire.
type timeoutsJSON struct {
	Dial       jsonDuration `json:"dial,omitempty"`
	Command    jsonDuration `json:"command,omitempty"`
	Data       jsonDuration `json:"data,omitempty"`
	Message    jsonDuration `json:"message,omitempty"`
	MinRate    int64        `json:"min_rate,omitempty"`
	RateWindow jsonDuration `json:"rate_window,omitempty"`
	Session    jsonDuration `json:"session,omitempty"`
	Window     int          `json:"window,omitempty"`
	MaxListing int          `json:"max_listing,omitempty"`
}

// MarshalJSON writes the durations as Go duration strings.
func (t Timeouts) MarshalJSON() ([]byte, error) {
	return json.Marshal(timeoutsJSON{
		Dial: jsonDuration(t.Dial), Command: jsonDuration(t.Command), Data: jsonDuration(t.Data),
		Message: jsonDuration(t.Message), MinRate: t.MinRate, RateWindow: jsonDuration(t.RateWindow),
		Session: jsonDuration(t.Session), Window: t.Window, MaxListing: t.MaxListing,
	})
}

// UnmarshalJSON reads durations as Go duration strings or, as older files
// wrote them, integers of nanoseconds. An unknown key is an error; errors
// name the key.
func (t *Timeouts) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("timeouts: %w", err)
	}
	var r Timeouts
	durations := map[string]*time.Duration{
		"dial": &r.Dial, "command": &r.Command, "data": &r.Data, "message": &r.Message,
		"rate_window": &r.RateWindow, "session": &r.Session,
	}
	for k, v := range m {
		var err error
		switch k {
		case "min_rate":
			err = json.Unmarshal(v, &r.MinRate)
		case "window":
			err = json.Unmarshal(v, &r.Window)
		case "max_listing":
			err = json.Unmarshal(v, &r.MaxListing)
		default:
			d, ok := durations[k]
			if !ok {
				return fmt.Errorf("timeouts: unknown key %q", k)
			}
			err = (*jsonDuration)(d).UnmarshalJSON(v)
		}
		if err != nil {
			return fmt.Errorf("timeouts.%s: %w", k, err)
		}
	}
	*t = r
	return nil
}

// jsonDuration is a time.Duration written as "1m30s" and read from that or
// from an integer of nanoseconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as \"30s\": %w", err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a duration such as \"30s\" or an integer of nanoseconds: %s", b)
	}
	*d = jsonDuration(n)
	return nil
}

// OversizePolicy says what happens to a message above Retrieval.MaxMessageSize.
type OversizePolicy string

const (
	OversizeSkip   OversizePolicy = "skip"   // leave it on the server (default)
	OversizeDelete OversizePolicy = "delete" // delete it without download
	OversizeNotify OversizePolicy = "notify" // leave it and tell the postmaster once
)

// Retrieval says what to download and what to leave.
type Retrieval struct {
	// LeaveOnServer keeps delivered messages on the server; with
	// DeleteAfterDays > 0 they are deleted that many days after first seen.
	LeaveOnServer   bool `json:"leave_on_server,omitempty"`
	DeleteAfterDays int  `json:"delete_after_days,omitempty"`
	// MaxMessageSize in octets as listed by the server; 0 means no limit.
	MaxMessageSize int64          `json:"max_message_size,omitempty"`
	Oversize       OversizePolicy `json:"oversize,omitempty"`
	// SmallFirst retrieves the smallest messages first.
	SmallFirst bool `json:"small_first,omitempty"`
	// MaxMessages and MaxBytes cap one check; 0 means no cap.
	MaxMessages int   `json:"max_messages,omitempty"`
	MaxBytes    int64 `json:"max_bytes,omitempty"`
	// Interval between scheduled checks; 0 means the schedule's default
	// (schedule.Options.Interval).
	Interval time.Duration `json:"interval,omitempty"`
}

// Mode says how the recipient-recovery stages of package parse combine.
type Mode string

const (
	// ModeChain runs the stages in order; the first that yields at least
	// one candidate in a local domain decides. It is the default.
	ModeChain Mode = "chain"
	// ModeUnion runs every stage and keeps every candidate of every
	// listed field, every occurrence (MDaemon's DomainPOP).
	ModeUnion Mode = "union"
	// ModeEnvelopeOnly runs only the envelope stage; when it finds no
	// trusted envelope header the message is kept instead of guessed at
	// (getmail).
	ModeEnvelopeOnly Mode = "envelope-only"
)

// LoopField is the trace header field multidrop writes into the messages
// it delivers (package deliver), with the local host name as its value; a
// message that comes back with this installation's stamp is a loop
// (package parse).
const LoopField = "X-Multidrop-Loop"

// Parsing holds the recipient-recovery settings (see package parse).
type Parsing struct {
	Mode Mode `json:"mode,omitempty"`
	// EnvelopeHeaders lists trusted envelope headers as "Name" or "Name:N"
	// (the N-th occurrence from the top). Empty means parse's default list.
	EnvelopeHeaders []string `json:"envelope_headers,omitempty"`
	// NoEnvelope turns the envelope-header stage off.
	NoEnvelope bool `json:"no_envelope,omitempty"`
	// SkipReceived skips the first N Received fields before looking for "for".
	SkipReceived int `json:"skip_received,omitempty"`
	// NoReceived turns the Received "for" stage off.
	NoReceived bool `json:"no_received,omitempty"`
	// ReceivedBy, when set, accepts a Received "for" only where "by" names one
	// of these hosts (the provider's).
	ReceivedBy []string `json:"received_by,omitempty"`
	// NoGuess turns header guessing (To, Cc, ...) off.
	NoGuess bool `json:"no_guess,omitempty"`
	// ExtraHeaders are further header names read in the guessing stage.
	ExtraHeaders []string `json:"extra_headers,omitempty"`
	// SubjectAddress reads an "(addr)" in the Subject.
	SubjectAddress bool `json:"subject_address,omitempty"`
}

// RuleAction is what a routing rule does.
type RuleAction string

const (
	RuleDeliver RuleAction = "deliver" // deliver to the rule's users
	RuleDeny    RuleAction = "deny"    // do not deliver to this address
)

// Rule is a routing rule applied to each parsed address.
type Rule struct {
	Match   string     `json:"match"`           // "equals", "contains" or "regexp"
	Pattern string     `json:"pattern"`         // compared case-insensitively
	Action  RuleAction `json:"action"`          // deliver or deny
	Users   []string   `json:"users,omitempty"` // for deliver
}

// Resolving holds the recipient-resolution settings (see package resolve).
type Resolving struct {
	Subdomains bool `json:"subdomains,omitempty"` // sub.domain counts as local
	// StripPrefix and StripSuffix are removed from local parts
	// (fetchmail's qvirtual, a provider's prefix).
	StripPrefix string `json:"strip_prefix,omitempty"`
	StripSuffix string `json:"strip_suffix,omitempty"`
	// Aliases map a local address (or local part) to one or more users.
	Aliases map[string][]string `json:"aliases,omitempty"`
	// SubaddressSeparator splits alice+news into alice: "" means "+";
	// any other string is the separator ("-" for qmail-style alice-news);
	// SubaddressOff turns subaddressing off.
	SubaddressSeparator string `json:"subaddress_separator,omitempty"`
	Rules               []Rule `json:"rules,omitempty"`
	MatchDisplayName    bool   `json:"match_display_name,omitempty"`
	CatchAll            string `json:"catch_all,omitempty"`
	MaxRecipients       int    `json:"max_recipients,omitempty"` // 0 means the resolver's default
}

// SubaddressOff is the Resolving.SubaddressSeparator that turns
// subaddressing off.
const SubaddressOff = "none"

// NoRecipientPolicy says what happens to a message with no valid recipient.
type NoRecipientPolicy string

const (
	NoRecipientDelete     NoRecipientPolicy = "delete"     // default, as DomainPOP does
	NoRecipientPostmaster NoRecipientPolicy = "postmaster" // deliver to Policy.Postmaster
	NoRecipientKeep       NoRecipientPolicy = "keep"       // leave it on the server
)

// ForeignPolicy says what happens to recipients outside the local domains.
type ForeignPolicy string

const (
	ForeignIgnore ForeignPolicy = "ignore" // default
	ForeignReport ForeignPolicy = "report" // report them to the postmaster
)

// LoopPolicy says what happens to a message that loops: one that carries
// this host's loop stamp, or whose every recipient has had it already.
type LoopPolicy string

const (
	LoopKeep       LoopPolicy = "keep"       // default: leave it on the server
	LoopQuarantine LoopPolicy = "quarantine" // deliver it to Policy.Postmaster, then delete it
)

// FailedPolicy says what happens to a message for a recipient whose
// delivery failed permanently (the local server refused it for good).
type FailedPolicy string

const (
	// FailedDrop, the default: the recipient goes without; the failure is
	// logged, observed and reported, and the message is deleted once every
	// other recipient has it.
	FailedDrop FailedPolicy = "drop"
	// FailedPostmaster: the message goes to Policy.Postmaster instead; it
	// is kept on the server until the postmaster has it.
	FailedPostmaster FailedPolicy = "postmaster"
)

// Policy holds what to do in the cases that need a decision.
type Policy struct {
	NoRecipient NoRecipientPolicy `json:"no_recipient,omitempty"`
	Foreign     ForeignPolicy     `json:"foreign,omitempty"`
	Loop        LoopPolicy        `json:"loop,omitempty"`
	Failed      FailedPolicy      `json:"failed,omitempty"`
	Postmaster  string            `json:"postmaster,omitempty"`
}

// Address returns host:port, with the default port for the security mode.
func (a Account) Address() string {
	port := a.Port
	if port == 0 {
		port = 995
		if a.Security == SecurityStartTLS || a.Security == SecurityNone {
			port = 110
		}
	}
	return joinHostPort(a.Host, port)
}
