package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/multidrop/multidrop/deliver"
)

// maxConfigSize bounds the configuration file.
const maxConfigSize = 4 << 20

// Config is the daemon's configuration file (see CONFIG.md). Relative paths
// in it are relative to the directory of the file.
type Config struct {
	Store     StoreConfig     `json:"store"`
	Deliver   DeliverConfig   `json:"deliver"`
	Directory DirectoryConfig `json:"directory"`
	Admin     AdminConfig     `json:"admin"`
	Log       LogConfig       `json:"log"`
	Pipeline  PipelineConfig  `json:"pipeline"`

	// File is the absolute path of the file the configuration came from.
	File string `json:"-"`
}

// StoreConfig selects the account store; the journal and the locker live in
// the same store.
type StoreConfig struct {
	Driver  string `json:"driver"`  // sqlite (default), json, postgres
	Path    string `json:"path"`    // sqlite database file or JSON accounts file
	Journal string `json:"journal"` // json: journal file
	Leases  string `json:"leases"`  // json: leases file
	History string `json:"history"` // json: check history file
	DSN     string `json:"dsn"`     // postgres connection string
}

// DeliverConfig says how messages reach the users.
type DeliverConfig struct {
	Default string            `json:"default"` // maildir, lmtp or smtp
	Maildir *MaildirConfig    `json:"maildir"`
	LMTP    *LMTPConfig       `json:"lmtp"`
	SMTP    *SMTPConfig       `json:"smtp"`
	Routes  map[string]string `json:"routes"` // domain or address -> method
	Trace   TraceConfig       `json:"trace"`
}

// MaildirConfig configures delivery into Maildirs.
type MaildirConfig struct {
	Root     string `json:"root"`
	Template string `json:"template"`
	Folder   string `json:"folder"`
	Create   *bool  `json:"create"`
	LF       bool   `json:"lf"`
	Separate bool   `json:"separate"`
	KeyNames *bool  `json:"key_names"`
}

// LMTPConfig configures delivery to an LMTP server.
type LMTPConfig struct {
	Network     string `json:"network"` // unix or tcp
	Address     string `json:"address"`
	StripDomain bool   `json:"strip_domain"`
}

// SMTPConfig configures relaying to a smarthost.
type SMTPConfig struct {
	Address    string `json:"address"`
	TLS        string `json:"tls"`
	ServerName string `json:"server_name"`
	CAFile     string `json:"ca_file"`
	User       string `json:"user"`
	Password   string `json:"password"`
}

// TraceConfig sets the trace fields and the header hygiene of every method.
type TraceConfig struct {
	ReturnPath     *bool  `json:"return_path"`
	DeliveredTo    *bool  `json:"delivered_to"`
	LoopStamp      *bool  `json:"loop_stamp"`
	EnvelopeFields string `json:"envelope_fields"` // rename (default), remove, keep
}

// DirectoryConfig names the users and aliases file.
type DirectoryConfig struct {
	Path          string   `json:"path"`
	CheckInterval Duration `json:"check_interval"`
	CaseSensitive bool     `json:"case_sensitive"`
}

// AdminConfig configures the admin HTTP server.
type AdminConfig struct {
	Listen   string `json:"listen"`
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// LogConfig configures logging to standard error.
type LogConfig struct {
	Format string `json:"format"` // text (default) or json
	Level  string `json:"level"`  // debug, info (default), warn, error
}

// PipelineConfig holds the Pipeline's settings.
type PipelineConfig struct {
	Interval       Duration `json:"interval"`
	Concurrency    int      `json:"concurrency"`
	SpoolDir       string   `json:"spool_dir"`
	LocalHost      string   `json:"local_host"`
	LeaseTTL       Duration `json:"lease_ttl"`
	MaxMessageSize int64    `json:"max_message_size"`
	Owner          string   `json:"owner"`
	Schedule       string   `json:"schedule"` // local or shared; default by driver
	Poll           Duration `json:"poll"`     // shared: wait between claims
	// The deletion guard (multidrop.Options.Guard: Min, Share,
	// Window); zero values mean the library's defaults.
	GuardMin    int     `json:"guard_min"`
	GuardShare  float64 `json:"guard_share"`
	GuardWindow int     `json:"guard_window"`
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration string such as \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"5m\": %q", s)
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// ConfigError is a problem with the configuration file: File names it, Key
// is the dotted path of the key at fault ("deliver.maildir.root"; empty for
// a syntax error outside any key), Line and Column (1-based, 0 when unknown)
// where it is.
type ConfigError struct {
	File   string
	Key    string
	Line   int
	Column int
	Msg    string
	Err    error // underlying error, if any
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// LoadConfig reads, checks and completes the configuration file at path.
// Every error is a *ConfigError, or several joined with errors.Join.
func LoadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error(), Err: err}
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read the configuration file: " + errText(err), Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, &ConfigError{File: path, Msg: "cannot read the configuration file: " + errText(err), Err: err}
	}
	if len(data) > maxConfigSize {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("file larger than %d bytes", maxConfigSize)}
	}
	return ParseConfig(path, abs, data)
}

// invalidUTF8 returns the offset of the first byte of data that is not
// valid UTF-8, or -1. encoding/json would replace such bytes with U+FFFD
// silently, so that a path or a password would not be the one written.
func invalidUTF8(data []byte) int {
	for off := 0; off < len(data); {
		r, n := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && n <= 1 {
			return off
		}
		off += n
	}
	return -1
}

// Upper bounds of numbers in the file: beyond them a value is a typo
// ("1e9", a duration in the wrong unit), not a setting.
const (
	maxConcurrency    = 1024
	maxMessageSizeCap = 1 << 40 // 1 TiB
	maxInterval       = 7 * 24 * time.Hour
	maxShortDuration  = time.Hour // lease_ttl, poll, check_interval
	maxGuardWindow    = 10000     // guard_window, guard_min
)

// errText is err's text without the path os errors repeat.
func errText(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// ParseConfig parses data, the contents of the file name (as the user gave
// it, for messages) at abs. Relative paths are resolved against abs's
// directory.
func ParseConfig(name, abs string, data []byte) (*Config, error) {
	p := &configParser{file: name, data: data, pos: map[string]int{}}
	if off := invalidUTF8(data); off >= 0 {
		return nil, p.errAt("", off, "invalid UTF-8 (the file must be UTF-8 text)")
	}
	if err := p.scan(); err != nil {
		return nil, err
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// scan checked keys and types; this is a safety net.
		return nil, p.decodeError(err)
	}
	c.File = abs
	if err := p.complete(&c, filepath.Dir(abs)); err != nil {
		return nil, err
	}
	return &c, nil
}

// configParser checks the file against the Config type with positions, so
// that every error names the key and where it is.
type configParser struct {
	file string
	data []byte
	dec  *json.Decoder
	pos  map[string]int // key path -> offset of the key
	errs []error
}

var durationType = reflect.TypeFor[Duration]()

func (p *configParser) errAt(key string, off int, format string, args ...any) *ConfigError {
	e := &ConfigError{File: p.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if off >= 0 {
		e.Line, e.Column = lineCol(p.data, off)
	}
	return e
}

// errKey is errAt at the key's position, if the key is in the file.
func (p *configParser) errKey(key string, format string, args ...any) {
	off, ok := p.pos[key]
	if !ok {
		off = -1
	}
	p.errs = append(p.errs, p.errAt(key, off, format, args...))
}

// lineCol turns a byte offset into a 1-based line and column (in
// characters).
func lineCol(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

// next returns the next token and the offset where it starts.
func (p *configParser) next() (json.Token, int, error) {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n,:", p.data[off]) >= 0 {
		off++
	}
	tok, err := p.dec.Token()
	return tok, off, err
}

func (p *configParser) syntax(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return p.errAt("", int(se.Offset), "JSON syntax error: %s", se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return p.errAt("", len(p.data), "JSON syntax error: unexpected end of file")
	}
	return p.errAt("", -1, "JSON syntax error: %v", err)
}

func (p *configParser) scan() error {
	p.dec = json.NewDecoder(bytes.NewReader(p.data))
	p.dec.UseNumber()
	if err := p.value("", reflect.TypeFor[Config]()); err != nil {
		return err
	}
	if _, off, err := p.next(); err != io.EOF {
		if err != nil {
			return p.syntax(err)
		}
		return p.errAt("", off, "unexpected data after the top-level object")
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value checks the next value against t. Schema errors are returned at
// once: the first one is the most useful, later ones may follow from it.
func (p *configParser) value(path string, t reflect.Type) error {
	tok, off, err := p.next()
	if err != nil {
		return p.syntax(err)
	}
	return p.check(path, t, tok, off)
}

func (p *configParser) check(path string, t reflect.Type, tok json.Token, off int) error {
	if t.Kind() == reflect.Pointer {
		if tok == nil {
			return nil
		}
		t = t.Elem()
	}
	want := func(what string) error {
		return p.errAt(path, off, "want %s, found %s", what, describe(tok))
	}
	switch {
	case t == durationType:
		s, ok := tok.(string)
		if !ok {
			return want("a duration string such as \"5m\"")
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return p.errAt(path, off, "want a duration such as \"90s\" or \"5m\", found %q", s)
		}
		if d < 0 {
			return p.errAt(path, off, "must not be negative")
		}
		return nil
	case t.Kind() == reflect.String:
		if _, ok := tok.(string); !ok {
			return want("a string")
		}
	case t.Kind() == reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return want("true or false")
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return want("a whole number")
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return want("a whole number")
		}
	case t.Kind() == reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return want("a number")
		}
		if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			return want("a number")
		}
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return want("an object")
		}
		return p.object(path, t)
	default:
		return fmt.Errorf("multidropd: config type %v not handled", t)
	}
	return nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "the number " + v.String()
	case string:
		return strconv.Quote(v)
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	}
	return fmt.Sprint(tok)
}

func (p *configParser) object(path string, t reflect.Type) error {
	fields := map[string]reflect.Type{}
	var names []string
	if t.Kind() == reflect.Struct {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
			names = append(names, name)
		}
	}
	seen := map[string]bool{}
	for {
		tok, off, err := p.next()
		if err != nil {
			return p.syntax(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key := tok.(string) // the decoder guarantees a string key here
		kp := join(path, key)
		if seen[key] {
			return p.errAt(kp, off, "duplicate key")
		}
		seen[key] = true
		p.pos[kp] = off
		var vt reflect.Type
		if t.Kind() == reflect.Map {
			vt = t.Elem() // a map: every key is allowed
		} else {
			var ok bool
			if vt, ok = fields[key]; !ok {
				return p.errAt(kp, off, "unknown key (known keys here: %s)", strings.Join(names, ", "))
			}
		}
		if err := p.value(kp, vt); err != nil {
			return err
		}
	}
}

func (p *configParser) decodeError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return p.errAt(te.Field, int(te.Offset), "want %v, found JSON %s", te.Type, te.Value)
	}
	return p.errAt("", -1, "%v", err)
}

// Method names of DeliverConfig.
const (
	methodMaildir = "maildir"
	methodLMTP    = "lmtp"
	methodSMTP    = "smtp"
)

// complete checks the values, fills in the defaults and resolves relative
// paths against dir.
func (p *configParser) complete(c *Config, dir string) error {
	abs := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(dir, s)
	}

	// store
	s := &c.Store
	switch s.Driver {
	case "":
		s.Driver = "sqlite"
		fallthrough
	case "sqlite":
		if s.Path == "" {
			s.Path = "multidrop.db"
		}
		p.only("store", s.DSN == "", "dsn", "sqlite")
		p.only("store", s.Journal == "", "journal", "sqlite")
		p.only("store", s.Leases == "", "leases", "sqlite")
		p.only("store", s.History == "", "history", "sqlite")
	case "json":
		if s.Path == "" {
			p.errKey("store.path", "required with driver \"json\" (the accounts file)")
		}
		base := strings.TrimSuffix(s.Path, filepath.Ext(s.Path))
		if s.Journal == "" {
			s.Journal = base + ".journal.json"
		}
		if s.Leases == "" {
			s.Leases = base + ".leases.json"
		}
		if s.History == "" {
			s.History = base + ".history.json"
		}
		p.only("store", s.DSN == "", "dsn", "json")
	case "postgres":
		if s.DSN == "" {
			p.errKey("store.dsn", "required with driver \"postgres\" (e.g. \"postgres://multidrop@db.example.net/multidrop\")")
		}
		p.only("store", s.Path == "", "path", "postgres")
		p.only("store", s.Journal == "", "journal", "postgres")
		p.only("store", s.Leases == "", "leases", "postgres")
		p.only("store", s.History == "", "history", "postgres")
	default:
		p.errKey("store.driver", "unknown driver %q (want sqlite, json or postgres)", s.Driver)
	}
	s.Path, s.Journal, s.Leases, s.History = abs(s.Path), abs(s.Journal), abs(s.Leases), abs(s.History)

	// deliver
	d := &c.Deliver
	var methods []string
	if m := d.Maildir; m != nil {
		methods = append(methods, methodMaildir)
		if m.Root == "" {
			p.errKey("deliver.maildir.root", "required (the directory under which the Maildirs are)")
		}
		m.Root = abs(m.Root)
		if m.Template == "" {
			m.Template = deliver.DefaultMaildirTemplate
		}
		if !strings.Contains(m.Template, "{user}") && !strings.Contains(m.Template, "{address}") {
			p.errKey("deliver.maildir.template", "must contain {user} or {address}, or every user would share one Maildir")
		}
	}
	if l := d.LMTP; l != nil {
		methods = append(methods, methodLMTP)
		if l.Address == "" {
			p.errKey("deliver.lmtp.address", "required (a unix socket path or host:port)")
		}
		switch l.Network {
		case "":
			l.Network = "tcp"
			if strings.HasPrefix(l.Address, "/") || strings.HasPrefix(l.Address, ".") {
				l.Network = "unix"
			}
		case "unix", "tcp":
		default:
			p.errKey("deliver.lmtp.network", "unknown network %q (want unix or tcp)", l.Network)
		}
		if l.Network == "unix" {
			l.Address = abs(l.Address)
		} else if l.Address != "" {
			if _, _, err := net.SplitHostPort(l.Address); err != nil {
				p.errKey("deliver.lmtp.address", "want host:port for network tcp: %v", err)
			}
		}
	}
	if sm := d.SMTP; sm != nil {
		methods = append(methods, methodSMTP)
		if sm.Address == "" {
			p.errKey("deliver.smtp.address", "required (host:port of the smarthost)")
		} else if _, _, err := net.SplitHostPort(sm.Address); err != nil {
			p.errKey("deliver.smtp.address", "want host:port: %v", err)
		}
		if _, ok := smtpTLSModes[sm.TLS]; !ok {
			p.errKey("deliver.smtp.tls", "unknown mode %q (want %s)", sm.TLS, strings.Join(smtpTLSNames, ", "))
		}
		if (sm.User == "") != (sm.Password == "") {
			p.errKey("deliver.smtp.user", "user and password go together")
		}
		sm.CAFile = abs(sm.CAFile)
	}
	switch {
	case len(methods) == 0:
		p.errKey("deliver", "configure at least one of maildir, lmtp and smtp")
	case d.Default == "" && len(methods) == 1:
		d.Default = methods[0]
	case d.Default == "":
		p.errKey("deliver.default", "required when several methods are configured (one of %s)", strings.Join(methods, ", "))
	case !slices.Contains(methods, d.Default):
		p.errKey("deliver.default", "%q is not a configured method (configured: %s)", d.Default, strings.Join(methods, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Routes)) {
		v := d.Routes[k]
		key := "deliver.routes." + k
		if !slices.Contains(methods, v) {
			p.errKey(key, "%q is not a configured method (configured: %s)", v, strings.Join(methods, ", "))
		}
		if k == "" || strings.ContainsAny(k, " \t\r\n") || strings.Count(k, "@") > 1 {
			p.errKey(key, "want a domain or an address")
		}
	}
	switch d.Trace.EnvelopeFields {
	case "":
		d.Trace.EnvelopeFields = "rename"
	case "rename", "remove", "keep":
	default:
		p.errKey("deliver.trace.envelope_fields", "unknown action %q (want rename, remove or keep)", d.Trace.EnvelopeFields)
	}

	// directory
	if c.Directory.Path == "" {
		p.errKey("directory.path", "required (the users and aliases file)")
	}
	c.Directory.Path = abs(c.Directory.Path)

	// admin
	a := &c.Admin
	if a.Listen != "" {
		if _, _, err := net.SplitHostPort(a.Listen); err != nil {
			p.errKey("admin.listen", "want host:port: %v", err)
		}
		if a.Token == "" && a.Password == "" {
			p.errKey("admin", "set user and password, or token: the admin page is never served without authentication")
		}
		if a.Password != "" && a.User == "" {
			p.errKey("admin.user", "required with admin.password")
		}
		if a.User != "" && a.Password == "" {
			p.errKey("admin.password", "required with admin.user")
		}
		if strings.HasPrefix(a.Password, "$2") && !isBcryptHash(a.Password) {
			p.errKey("admin.password", "starts like a bcrypt hash but is not one (want the 60 characters \"multidropd hash-password\" prints)")
		} else if isBcryptHash(a.Password) {
			if _, err := bcrypt.Cost([]byte(a.Password)); err != nil {
				p.errKey("admin.password", "not a valid bcrypt hash: %v", err)
			}
		}
		if a.Token != "" && len(a.Token) < 16 {
			p.errKey("admin.token", "too short: use at least 16 characters")
		}
	}

	// log
	switch c.Log.Format {
	case "":
		c.Log.Format = "text"
	case "text", "json":
	default:
		p.errKey("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		p.errKey("log.level", "%v", err)
	}

	// pipeline
	pc := &c.Pipeline
	if pc.Concurrency < 0 {
		p.errKey("pipeline.concurrency", "must not be negative")
	} else if pc.Concurrency > maxConcurrency {
		p.errKey("pipeline.concurrency", "%d is too large (at most %d)", pc.Concurrency, maxConcurrency)
	}
	if pc.MaxMessageSize < 0 {
		p.errKey("pipeline.max_message_size", "must not be negative")
	} else if pc.MaxMessageSize > maxMessageSizeCap {
		p.errKey("pipeline.max_message_size", "%d is too large (at most %d, 1 TiB)", pc.MaxMessageSize, int64(maxMessageSizeCap))
	}
	for _, k := range []struct {
		key string
		n   int
	}{{"pipeline.guard_min", pc.GuardMin}, {"pipeline.guard_window", pc.GuardWindow}} {
		if k.n < 0 {
			p.errKey(k.key, "must not be negative")
		} else if k.n > maxGuardWindow {
			p.errKey(k.key, "%d is too large (at most %d)", k.n, maxGuardWindow)
		}
	}
	if pc.GuardShare < 0 || math.IsNaN(pc.GuardShare) || math.IsInf(pc.GuardShare, 0) {
		p.errKey("pipeline.guard_share", "must be a number from 0 (the default, 0.5) up; above 1 turns the guard off")
	}
	if time.Duration(pc.Interval) > maxInterval {
		p.errKey("pipeline.interval", "%v is too long (at most %v)", time.Duration(pc.Interval), maxInterval)
	}
	for _, k := range []struct {
		key string
		d   Duration
	}{{"pipeline.lease_ttl", pc.LeaseTTL}, {"pipeline.poll", pc.Poll}, {"directory.check_interval", c.Directory.CheckInterval}} {
		if time.Duration(k.d) > maxShortDuration {
			p.errKey(k.key, "%v is too long (at most %v)", time.Duration(k.d), maxShortDuration)
		}
	}
	if pc.Interval != 0 && time.Duration(pc.Interval) < 10*time.Second {
		p.errKey("pipeline.interval", "%v is too short (at least 10s; POP providers lock out clients that poll faster)", time.Duration(pc.Interval))
	}
	if pc.LeaseTTL != 0 && time.Duration(pc.LeaseTTL) < 3*time.Second {
		p.errKey("pipeline.lease_ttl", "%v is too short (at least 3s)", time.Duration(pc.LeaseTTL))
	}
	pc.SpoolDir = abs(pc.SpoolDir)
	switch pc.Schedule {
	case "":
		pc.Schedule = "local"
		if s.Driver == "postgres" {
			pc.Schedule = "shared"
		}
	case "local":
	case "shared":
		if s.Driver == "json" {
			p.errKey("pipeline.schedule", "\"shared\" needs driver sqlite or postgres (the json store has no shared schedule)")
		}
	default:
		p.errKey("pipeline.schedule", "unknown schedule %q (want local or shared)", pc.Schedule)
	}
	if pc.Poll != 0 && pc.Schedule != "shared" {
		p.errKey("pipeline.poll", "applies only to schedule \"shared\"")
	}

	return errors.Join(p.errs...)
}

// only reports key of section as an error unless ok: it does not apply to
// driver.
func (p *configParser) only(section string, ok bool, key, driver string) {
	if !ok {
		p.errKey(section+"."+key, "does not apply to driver %q", driver)
	}
}
