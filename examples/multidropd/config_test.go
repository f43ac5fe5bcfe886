package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExampleConfig(t *testing.T) {
	c, err := LoadConfig("multidropd.example.json")
	require.NoError(t, err)
	assert.Equal(t, "sqlite", c.Store.Driver)
	assert.Equal(t, "/var/lib/multidrop/multidrop.db", c.Store.Path)
	assert.Equal(t, "lmtp", c.Deliver.Default)
	assert.Equal(t, "unix", c.Deliver.LMTP.Network)
	assert.Equal(t, "{root}/{domain}/{user}/Maildir", c.Deliver.Maildir.Template)
	assert.Equal(t, "starttls", c.Deliver.SMTP.TLS)
	assert.Equal(t, map[string]string{"archive.example.com": "maildir", "ceo@example.com": "smtp"}, c.Deliver.Routes)
	assert.Equal(t, 2*time.Second, time.Duration(c.Directory.CheckInterval))
	assert.Equal(t, "127.0.0.1:8025", c.Admin.Listen)
	assert.Equal(t, "json", c.Log.Format)
	assert.Equal(t, 5*time.Minute, time.Duration(c.Pipeline.Interval))
	assert.Equal(t, 4, c.Pipeline.Concurrency)
	assert.Equal(t, int64(100<<20), c.Pipeline.MaxMessageSize)
	abs, err := filepath.Abs("multidropd.example.json")
	require.NoError(t, err)
	assert.Equal(t, abs, c.File)
}

// Every key of the Config type is documented in CONFIG.md, and the example
// file uses only keys that exist (LoadConfig refuses the others).
func TestConfigReferenceComplete(t *testing.T) {
	doc, err := os.ReadFile("CONFIG.md")
	require.NoError(t, err)
	for _, key := range configKeys() {
		assert.Contains(t, string(doc), "`"+key+"`", "CONFIG.md does not document %s", key)
	}
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"directory": {"path": "users"}, "deliver": {"maildir": {"root": "mail"}}}`), 0o600))
	c, err := LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, "sqlite", c.Store.Driver)
	assert.Equal(t, filepath.Join(dir, "multidrop.db"), c.Store.Path, "relative to the file's directory")
	assert.Equal(t, filepath.Join(dir, "users"), c.Directory.Path)
	assert.Equal(t, filepath.Join(dir, "mail"), c.Deliver.Maildir.Root)
	assert.Equal(t, "maildir", c.Deliver.Default, "the only method is the default")
	assert.Equal(t, "rename", c.Deliver.Trace.EnvelopeFields)
	assert.Equal(t, "text", c.Log.Format)
	assert.Equal(t, "local", c.Pipeline.Schedule)

	require.NoError(t, os.WriteFile(path, []byte(`{"store": {"driver": "json", "path": "acc.json"}, "directory": {"path": "u"},
		"deliver": {"lmtp": {"address": "/run/lmtp"}}}`), 0o600))
	c, err = LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "acc.journal.json"), c.Store.Journal)
	assert.Equal(t, filepath.Join(dir, "acc.leases.json"), c.Store.Leases)
	assert.Equal(t, "unix", c.Deliver.LMTP.Network, "an absolute path is a unix socket")

	require.NoError(t, os.WriteFile(path, []byte(`{"store": {"driver": "postgres", "dsn": "postgres://x/y"}, "directory": {"path": "u"},
		"deliver": {"lmtp": {"address": "127.0.0.1:24"}}}`), 0o600))
	c, err = LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, "shared", c.Pipeline.Schedule, "PostgreSQL means several instances")
	assert.Equal(t, "tcp", c.Deliver.LMTP.Network)
}

func TestConfigErrors(t *testing.T) {
	const base = `"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}}`
	tests := []struct {
		name string
		json string
		key  string
		line int // 0: not checked
		col  int
		msg  string
	}{
		{"syntax", "{\n  \"store\": {\"driver\": \"sqlite\",}\n}", "", 2, 32, "JSON syntax error"},
		{"truncated", `{"store": {`, "", 1, 12, "unexpected end of file"},
		{"trailing data", `{` + base + `} {}`, "", 1, len(base) + 4, "unexpected data after the top-level object"},
		{"not an object", `[1]`, "", 1, 1, "want an object, found an array"},
		{"unknown top key", "{" + base + ",\n \"stor\": {}}", "stor", 2, 2, "unknown key (known keys here: store, deliver, directory, admin, log, pipeline)"},
		{"unknown nested key", `{"store": {"drvier": "json"}, ` + base + `}`, "store.drvier", 1, 12, "unknown key"},
		{"key case matters", `{"Store": {}, ` + base + `}`, "Store", 1, 2, "unknown key"},
		{"duplicate key", `{"log": {"level": "info", "level": "debug"}, ` + base + `}`, "log.level", 1, 27, "duplicate key"},
		{"wrong type string", `{"store": {"driver": 1}, ` + base + `}`, "store.driver", 1, 22, "want a string, found the number 1"},
		{"wrong type int", `{"pipeline": {"concurrency": "4"}, ` + base + `}`, "pipeline.concurrency", 1, 30, `want a whole number, found "4"`},
		{"fraction", `{"pipeline": {"concurrency": 1.5}, ` + base + `}`, "pipeline.concurrency", 0, 0, "want a whole number"},
		{"wrong type bool", `{"directory": {"path": "u", "case_sensitive": "yes"}, "deliver": {"maildir": {"root": "m"}}}`, "directory.case_sensitive", 0, 0, "want true or false"},
		{"wrong type object", `{"store": "sqlite", ` + base + `}`, "store", 1, 11, `want an object, found "sqlite"`},
		{"bad duration", `{"pipeline": {"interval": "5 minutes"}, ` + base + `}`, "pipeline.interval", 1, 27, `want a duration such as "90s" or "5m", found "5 minutes"`},
		{"number duration", `{"pipeline": {"interval": 300}, ` + base + `}`, "pipeline.interval", 0, 0, "want a duration string"},
		{"negative duration", `{"pipeline": {"lease_ttl": "-1m"}, ` + base + `}`, "pipeline.lease_ttl", 0, 0, "must not be negative"},
		{"short interval", `{"pipeline": {"interval": "1s"}, ` + base + `}`, "pipeline.interval", 1, 15, "too short"},
		{"short lease", `{"pipeline": {"lease_ttl": "1s"}, ` + base + `}`, "pipeline.lease_ttl", 0, 0, "too short"},
		{"negative concurrency", `{"pipeline": {"concurrency": -1}, ` + base + `}`, "pipeline.concurrency", 0, 0, "must not be negative"},
		{"negative size", `{"pipeline": {"max_message_size": -1}, ` + base + `}`, "pipeline.max_message_size", 0, 0, "must not be negative"},
		{"unknown driver", `{"store": {"driver": "mysql"}, ` + base + `}`, "store.driver", 1, 12, `unknown driver "mysql" (want sqlite, json or postgres)`},
		{"json without path", `{"store": {"driver": "json"}, ` + base + `}`, "store.path", 0, 0, "required with driver \"json\""},
		{"postgres without dsn", `{"store": {"driver": "postgres"}, ` + base + `}`, "store.dsn", 0, 0, "required with driver \"postgres\""},
		{"postgres with path", `{"store": {"driver": "postgres", "dsn": "postgres://x/y", "path": "a.db"}, ` + base + `}`, "store.path", 0, 0, `does not apply to driver "postgres"`},
		{"sqlite with dsn", `{"store": {"dsn": "x"}, ` + base + `}`, "store.dsn", 0, 0, `does not apply to driver "sqlite"`},
		{"no directory", `{"deliver": {"maildir": {"root": "m"}}}`, "directory.path", 0, 0, "required"},
		{"no method", `{"directory": {"path": "u"}, "deliver": {}}`, "deliver", 1, 30, "configure at least one of maildir, lmtp and smtp"},
		{"maildir without root", `{"directory": {"path": "u"}, "deliver": {"maildir": {}}}`, "deliver.maildir.root", 0, 0, "required"},
		{"maildir shared template", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m", "template": "{root}/{domain}"}}}`, "deliver.maildir.template", 0, 0, "must contain {user} or {address}"},
		{"lmtp without address", `{"directory": {"path": "u"}, "deliver": {"lmtp": {}}}`, "deliver.lmtp.address", 0, 0, "required"},
		{"lmtp bad network", `{"directory": {"path": "u"}, "deliver": {"lmtp": {"network": "udp", "address": "x:1"}}}`, "deliver.lmtp.network", 0, 0, `unknown network "udp"`},
		{"lmtp tcp without port", `{"directory": {"path": "u"}, "deliver": {"lmtp": {"network": "tcp", "address": "mail"}}}`, "deliver.lmtp.address", 0, 0, "want host:port"},
		{"smtp bad tls", `{"directory": {"path": "u"}, "deliver": {"smtp": {"address": "h:25", "tls": "maybe"}}}`, "deliver.smtp.tls", 0, 0, `unknown mode "maybe" (want starttls-unless-loopback, starttls, implicit, none)`},
		{"smtp user without password", `{"directory": {"path": "u"}, "deliver": {"smtp": {"address": "h:25", "user": "u"}}}`, "deliver.smtp.user", 0, 0, "user and password go together"},
		{"smtp without port", `{"directory": {"path": "u"}, "deliver": {"smtp": {"address": "h"}}}`, "deliver.smtp.address", 0, 0, "want host:port"},
		{"two methods no default", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}, "lmtp": {"address": "h:24"}}}`, "deliver.default", 0, 0, "required when several methods are configured (one of maildir, lmtp)"},
		{"default not configured", `{"directory": {"path": "u"}, "deliver": {"default": "smtp", "maildir": {"root": "m"}}}`, "deliver.default", 0, 0, `"smtp" is not a configured method (configured: maildir)`},
		{"route to unconfigured", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}, "routes": {"example.org": "lmtp"}}}`, "deliver.routes.example.org", 0, 0, `"lmtp" is not a configured method`},
		{"route bad key", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}, "routes": {"a@b@c": "maildir"}}}`, "deliver.routes.a@b@c", 0, 0, "want a domain or an address"},
		{"route value type", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}, "routes": {"example.org": true}}}`, "deliver.routes.example.org", 0, 0, "want a string, found true"},
		{"envelope fields", `{"directory": {"path": "u"}, "deliver": {"maildir": {"root": "m"}, "trace": {"envelope_fields": "drop"}}}`, "deliver.trace.envelope_fields", 0, 0, `unknown action "drop"`},
		{"admin without auth", `{"admin": {"listen": "127.0.0.1:8025"}, ` + base + `}`, "admin", 1, 2, "never served without authentication"},
		{"admin bad listen", `{"admin": {"listen": "8025", "token": "0123456789abcdef"}, ` + base + `}`, "admin.listen", 1, 12, "want host:port"},
		{"admin password without user", `{"admin": {"listen": ":8025", "password": "p"}, ` + base + `}`, "admin.user", 0, 0, "required with admin.password"},
		{"admin user without password", `{"admin": {"listen": ":8025", "user": "u", "token": "0123456789abcdef"}, ` + base + `}`, "admin.password", 0, 0, "required with admin.user"},
		{"admin short token", `{"admin": {"listen": ":8025", "token": "short"}, ` + base + `}`, "admin.token", 0, 0, "too short"},
		{"schedule unknown", `{"pipeline": {"schedule": "cron"}, ` + base + `}`, "pipeline.schedule", 0, 0, `unknown schedule "cron" (want local or shared)`},
		{"shared on json", `{"store": {"driver": "json", "path": "a.json"}, "pipeline": {"schedule": "shared"}, ` + base + `}`, "pipeline.schedule", 0, 0, `needs driver sqlite or postgres`},
		{"poll without shared", `{"pipeline": {"poll": "2s"}, ` + base + `}`, "pipeline.poll", 0, 0, `applies only to schedule "shared"`},
		{"log format", `{"log": {"format": "xml"}, ` + base + `}`, "log.format", 0, 0, `unknown format "xml" (want text or json)`},
		{"log level", `{"log": {"level": "verbose"}, ` + base + `}`, "log.level", 1, 10, `unknown level "verbose" (want debug, info, warn or error)`},
		{"invalid utf-8", "{\"log\": {\"format\": \"t\xffext\"}, " + base + "}", "", 1, 22, "invalid UTF-8"},
		{"exponent concurrency", `{"pipeline": {"concurrency": 1e9}, ` + base + `}`, "pipeline.concurrency", 1, 30, "want a whole number"},
		{"huge concurrency", `{"pipeline": {"concurrency": 1000000000}, ` + base + `}`, "pipeline.concurrency", 1, 15, "too large (at most 1024)"},
		{"huge size", `{"pipeline": {"max_message_size": 9223372036854775807}, ` + base + `}`, "pipeline.max_message_size", 0, 0, "too large"},
		{"long interval", `{"pipeline": {"interval": "10000h"}, ` + base + `}`, "pipeline.interval", 0, 0, "too long (at most 168h0m0s)"},
		{"long lease", `{"pipeline": {"lease_ttl": "2h"}, ` + base + `}`, "pipeline.lease_ttl", 0, 0, "too long"},
		{"guard share as a string", `{"pipeline": {"guard_share": "0.5"}, ` + base + `}`, "pipeline.guard_share", 1, 30, `want a number, found "0.5"`},
		{"negative guard share", `{"pipeline": {"guard_share": -0.5}, ` + base + `}`, "pipeline.guard_share", 0, 0, "above 1 turns the guard off"},
		{"negative guard min", `{"pipeline": {"guard_min": -1}, ` + base + `}`, "pipeline.guard_min", 0, 0, "must not be negative"},
		{"huge guard window", `{"pipeline": {"guard_window": 1000000}, ` + base + `}`, "pipeline.guard_window", 0, 0, "too large (at most 10000)"},
		{"utf-8 column", "{\"log\": {\"format\": \"é\", \"levl\": 1}, " + base + "}", "log.levl", 1, 25, "unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "multidropd.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.json), 0o600))
			_, err := LoadConfig(path)
			require.Error(t, err)
			ce, ok := errors.AsType[*ConfigError](err)
			require.True(t, ok, "%T %v", err, err)
			assert.Equal(t, path, ce.File)
			assert.Equal(t, tc.key, ce.Key, "key; error: %v", err)
			assert.Contains(t, ce.Msg, tc.msg)
			if tc.line != 0 {
				assert.Equal(t, tc.line, ce.Line, "line")
				assert.Equal(t, tc.col, ce.Column, "column")
				assert.True(t, strings.HasPrefix(err.Error(), path+":"), err.Error())
			}
			assert.Contains(t, err.Error(), path)
		})
	}
}

func TestConfigSeveralErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"log": {"format": "xml", "level": "loud"}, "deliver": {}}`), 0o600))
	_, err := LoadConfig(path)
	require.Error(t, err)
	for _, want := range []string{"log.format", "log.level", "deliver: configure", "directory.path: required"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadConfig(filepath.Join(dir, "missing.json"))
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "missing.json")+": cannot read the configuration file: no such file or directory", err.Error())

	_, err = LoadConfig(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir+": cannot read the configuration file")

	big := filepath.Join(dir, "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, maxConfigSize+1), 0o600))
	_, err = LoadConfig(big)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file larger than")

	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = LoadConfig(empty)
	require.Error(t, err)
	assert.Contains(t, err.Error(), empty+":1:1: JSON syntax error: unexpected end of file")
}

// configKeys lists every key path of Config (a map's keys are the user's).
func configKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			k := join(prefix, name)
			keys = append(keys, k)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(k, ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
}
