package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/dovecottest"

	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/internal/pgtest"
)

// writeConfig writes a configuration file with a sqlite store, a users
// file and Maildir delivery under dir, with extra merged in at the top
// level, and returns its path.
func writeConfig(t *testing.T, dir string, extra map[string]any) string {
	t.Helper()
	users := "# test users\nalice@example.com Alice\nbob@example.com\nsales@example.com: alice, bob\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mail"), 0o700))
	c := map[string]any{
		"store":     map[string]any{"path": "multidrop.db"},
		"directory": map[string]any{"path": "users"},
		"deliver":   map[string]any{"maildir": map[string]any{"root": "mail"}},
		"log":       map[string]any{"format": "json", "level": "info"},
		"pipeline":  map[string]any{"local_host": "mx.test.example", "concurrency": 2},
	}
	for k, v := range extra {
		c[k] = v
	}
	b, err := json.MarshalIndent(c, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(dir, "multidropd.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func openDaemon(t *testing.T, path string, logs *bytes.Buffer) *Daemon {
	t.Helper()
	c, err := LoadConfig(path)
	require.NoError(t, err)
	level := new(slog.LevelVar)
	d, err := Open(t.Context(), c, NewLogger(c, logs, level), level)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return d
}

// traceFields are the fields a Maildir delivery prepends.
var traceFields = []string{"return-path", "delivered-to", "received", "x-multidrop-loop"}

// stripTrace removes the trace fields (with their continuation lines) at
// the top of a delivered message and returns them and the rest.
func stripTrace(t *testing.T, b []byte) (fields []string, rest []byte) {
	t.Helper()
	for {
		line, after, ok := bytes.Cut(b, []byte("\r\n"))
		require.True(t, ok, "unterminated header line")
		name, _, _ := bytes.Cut(line, []byte(":"))
		if !slices.Contains(traceFields, strings.ToLower(string(name))) {
			return fields, b
		}
		fields = append(fields, strings.ToLower(string(name)))
		b = after
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
			_, b, _ = bytes.Cut(b, []byte("\r\n"))
		}
	}
}

// maildirMessages returns the messages in new/ of the Maildir, sorted by
// content.
func maildirMessages(t *testing.T, dir string) [][]byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "new"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func msg(to, cc, subject string) []byte {
	h := "From: sender@elsewhere.example\r\nTo: " + to + "\r\n"
	if cc != "" {
		h += "Cc: " + cc + "\r\n"
	}
	return []byte(h + "Subject: " + subject + "\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", "-") +
		"@elsewhere.example>\r\n\r\nBody of " + subject + ".\r\n.leading dot line\r\n")
}

func TestOnceDovecot(t *testing.T) {
	srv := dovecottest.Get(t)
	user := srv.NewUser(t, "mdd")
	msgs := map[string][]byte{
		"alice":   msg("Alice <alice@example.com>", "", "for alice"),
		"bob":     msg("bob@example.com", "", "for bob"),
		"both":    msg("alice@example.com", "Bob <bob@EXAMPLE.com>", "for both"),
		"alias":   msg("sales@example.com", "", "for sales"),
		"unknown": msg("nobody@example.com", "", "for nobody"),
		"foreign": msg("someone@foreign.example", "", "foreign only"),
	}
	order := []string{"alice", "bob", "both", "alias", "unknown", "foreign"}
	var load [][]byte
	for _, k := range order {
		load = append(load, msgs[k])
	}
	srv.Load(t, user, load...)

	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	var logs bytes.Buffer
	d := openDaemon(t, path, &logs)
	host, port, err := net.SplitHostPort(srv.POP3S)
	require.NoError(t, err)
	portN, err := strconv.Atoi(port)
	require.NoError(t, err)
	_, err = d.Store().Put(t.Context(), account.Account{
		ID: "dovecot", Enabled: true, Description: "test Dovecot",
		Host: host, Port: portN, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth:     account.Auth{User: user, Secret: dovecottest.Password},
	})
	require.NoError(t, err)

	var out bytes.Buffer
	code := d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true})
	require.Equal(t, ExitOK, code, "output:\n%s\nlogs:\n%s", out.String(), logs.String())

	// Progress and the summary table on the "terminal".
	assert.Contains(t, out.String(), "1/1 accounts, 6 messages")
	assert.Regexp(t, `(?m)^\s*ACCOUNT\s+STATUS\s+LISTED`, out.String())
	assert.Regexp(t, `(?m)^\s*dovecot\s+ok\s+6\s+6\s+6\s+6\s+0\s+0\s`, out.String())
	assert.NotContains(t, logs.String(), dovecottest.Password)

	want := map[string][]string{
		"alice": {"alice", "both", "alias"},
		"bob":   {"bob", "both", "alias"},
	}
	for u, keys := range want {
		got := maildirMessages(t, filepath.Join(dir, "mail", "example.com", u, "Maildir"))
		require.Len(t, got, len(keys), u)
		var bodies []string
		for _, m := range got {
			fields, rest := stripTrace(t, m)
			assert.Contains(t, fields, "received", u)
			assert.Contains(t, fields, "x-multidrop-loop", u)
			bodies = append(bodies, string(rest))
		}
		var expect []string
		for _, k := range keys {
			expect = append(expect, string(dovecottest.Served(msgs[k])))
		}
		assert.ElementsMatch(t, expect, bodies, u)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "mail", "example.com"))
	require.NoError(t, err)
	assert.Len(t, entries, 2, "only alice and bob have Maildirs")

	// Everything was deleted on the server and the Maildirs stay as they
	// are: a second round, through Main, finds an empty mailbox.
	var stdout, stderr bytes.Buffer
	code = Main(t.Context(), []string{"-config", path, "-once"}, &Env{Stdout: &stdout, Stderr: &stderr})
	require.Equal(t, ExitOK, code, stderr.String())
	assert.Empty(t, stdout.String(), "no table when not on a terminal")
	assert.Contains(t, stderr.String(), `"msg":"round finished","accounts":1,"failed":0`)
	assert.Len(t, maildirMessages(t, filepath.Join(dir, "mail", "example.com", "alice", "Maildir")), 3)

	// -check of one account, and of an unknown one.
	stderr.Reset()
	assert.Equal(t, ExitOK, Main(t.Context(), []string{"-config", path, "-check", "dovecot"}, &Env{Stdout: &stdout, Stderr: &stderr}), stderr.String())
	stderr.Reset()
	assert.Equal(t, ExitConfig, Main(t.Context(), []string{"-config", path, "-check", "nope"}, &Env{Stdout: &stdout, Stderr: &stderr}))
	assert.Contains(t, stderr.String(), `-check: no account with ID "nope"`)

	// A bad account (nothing listens on its port) fails; the good one
	// still runs: status 1, and the table names the failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	_, err = d.Store().Put(t.Context(), account.Account{
		ID: "dead", Enabled: true, Host: "127.0.0.1", Port: deadPort, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "x", Secret: "y"},
	})
	require.NoError(t, err)
	out.Reset()
	code = d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true})
	assert.Equal(t, ExitFailed, code)
	assert.Regexp(t, `(?m)^\s*dead\s+FAILED`, out.String())
	assert.Regexp(t, `(?m)^\s*dovecot\s+ok`, out.String())
	assert.Contains(t, out.String(), "dead: ")
	out.Reset()
	assert.Equal(t, ExitFailed, d.Once(t.Context(), "dead", &Env{Stdout: &out, Stderr: &out}))

	// A stop during a round: the check in hand runs to its end and
	// commits; the accounts after it are not started.
	late := msg("bob@example.com", "", "during the stop")
	srv.Load(t, user, late)
	p, _ := d.Pipeline()
	stop, stopNow := context.WithCancel(t.Context())
	defer stopNow()
	d.SetObserver(func(e multidrop.Event) {
		if e.Kind == multidrop.EventCheckStart && e.Account == "dovecot" {
			stopNow()
		}
	})
	defer d.SetObserver(nil)
	reports := round(stop, t.Context(), p, []string{"dovecot", "dead"}, 1)
	require.Len(t, reports, 2)
	require.NoError(t, reports[0].Err)
	assert.True(t, reports[0].Committed)
	assert.Equal(t, 1, reports[0].Delivered)
	assert.Equal(t, 1, reports[0].Deleted)
	assert.ErrorIs(t, reports[1].Err, ErrNotChecked)
	assert.Len(t, maildirMessages(t, filepath.Join(dir, "mail", "example.com", "bob", "Maildir")), 4)
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	var logs bytes.Buffer
	d := openDaemon(t, path, &logs)
	p0, changed := d.Pipeline()

	// Only the log level changes: same Pipeline.
	writeConfig(t, dir, map[string]any{"log": map[string]any{"format": "json", "level": "debug"}})
	require.NoError(t, d.Reload(t.Context()))
	assert.Equal(t, slog.LevelDebug, d.level.Level())
	p1, _ := d.Pipeline()
	assert.Same(t, p0, p1)
	select {
	case <-changed:
		t.Fatal("pipeline replaced without a pipeline change")
	default:
	}

	// A pipeline setting changes: a new Pipeline, announced.
	writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"local_host": "mx.test.example", "interval": "1m"}})
	require.NoError(t, d.Reload(t.Context()))
	p2, changed2 := d.Pipeline()
	assert.NotSame(t, p0, p2)
	assert.Equal(t, slog.LevelInfo, d.level.Level())
	select {
	case <-changed:
	default:
		t.Fatal("changed not closed")
	}
	assert.Equal(t, time.Minute, time.Duration(d.Config().Pipeline.Interval))

	// A restart-only change is kept at its running value, with a warning.
	writeConfig(t, dir, map[string]any{
		"store":    map[string]any{"path": "other.db"},
		"pipeline": map[string]any{"local_host": "mx.test.example", "interval": "1m"},
	})
	require.NoError(t, d.Reload(t.Context()))
	assert.Equal(t, filepath.Join(dir, "multidrop.db"), d.Config().Store.Path)
	assert.Contains(t, logs.String(), `"key":"store"`)
	assert.NoFileExists(t, filepath.Join(dir, "other.db"))

	// The users file is re-read.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte("carol@example.com\n"), 0o600))
	require.NoError(t, d.Reload(t.Context()))
	got, err := d.dir.Lookup(t.Context(), "example.com", "carol")
	require.NoError(t, err)
	assert.Equal(t, []string{"carol@example.com"}, got)

	// A broken file is refused whole; the running configuration stays.
	require.NoError(t, os.WriteFile(path, []byte(`{"log": {"level": "debug"}, "pipeline": {"interval": "x"}}`), 0o600))
	err = d.Reload(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+":1:54: pipeline.interval")
	assert.Equal(t, slog.LevelInfo, d.level.Level())
	p3, changed3 := d.Pipeline()
	assert.Same(t, p2, p3)
	assert.Equal(t, changed2, changed3)

	// A users file that no longer parses is refused too.
	writeConfig(t, dir, nil)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte("not an address\n"), 0o600))
	err = d.Reload(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "directory.path")
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		setup func(dir string)
		want  string
	}{
		{"missing users file", nil, func(dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "users"))) }, "directory.path: "},
		{"missing maildir root", map[string]any{"deliver": map[string]any{"maildir": map[string]any{"root": "nomail"}}}, nil, "deliver.maildir.root: "},
		{"store directory missing", map[string]any{"store": map[string]any{"path": "no/such/dir/m.db"}}, nil, "store.path: "},
		{"spool dir missing", map[string]any{"pipeline": map[string]any{"spool_dir": "nospool"}}, nil, "pipeline.spool_dir: "},
		{"ca file missing", map[string]any{"deliver": map[string]any{"smtp": map[string]any{"address": "127.0.0.1:25", "ca_file": "ca.pem"}}}, nil, "deliver.smtp.ca_file: "},
		{"ca file not PEM", map[string]any{"deliver": map[string]any{"smtp": map[string]any{"address": "127.0.0.1:25", "ca_file": "users"}}}, nil, "deliver.smtp.ca_file: no PEM certificate"},
		{"corrupt json store", map[string]any{"store": map[string]any{"driver": "json", "path": "users"}}, nil, "store.path: "},
		{"unreachable postgres", map[string]any{"store": map[string]any{"driver": "postgres", "dsn": "postgres://u@127.0.0.1:1/db?connect_timeout=2"}}, nil, "store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeConfig(t, dir, tc.extra)
			if tc.setup != nil {
				tc.setup(dir)
			}
			before := listFiles(t, dir)
			var stdout, stderr bytes.Buffer
			code := Main(t.Context(), []string{"-config", path, "-once"}, &Env{Stdout: &stdout, Stderr: &stderr})
			assert.Equal(t, ExitConfig, code)
			assert.Contains(t, stderr.String(), "multidropd: "+path+": "+tc.want)
			assert.Equal(t, before, listFiles(t, dir), "nothing written")
		})
	}
}

// listFiles lists the files under dir, lock files excepted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		// jsonstore's lock files hold no data: they stay behind by design.
		if !strings.HasSuffix(p, ".lock") {
			out = append(out, p)
		}
		return err
	}))
	return out
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"-version"}, ExitOK, "multidropd ", ""},
		{[]string{"-h"}, ExitOK, "", "Usage: multidropd"},
		{[]string{"-bogus"}, ExitConfig, "", "flag provided but not defined: -bogus"},
		{[]string{"extra"}, ExitConfig, "", `unexpected argument "extra"`},
		{[]string{"-once", "-check", "x"}, ExitConfig, "", "-once and -check exclude each other"},
		{[]string{"-config", "/nonexistent/m.json", "-once"}, ExitConfig, "", "multidropd: /nonexistent/m.json: cannot read the configuration file: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tc.code, Main(t.Context(), tc.args, &Env{Stdout: &stdout, Stderr: &stderr}))
			assert.Contains(t, stdout.String(), tc.out)
			assert.Contains(t, stderr.String(), tc.err)
		})
	}
}

// TestServeStops runs the daemon as a service with no accounts: it
// starts, reloads on the Reload channel and stops with status 0 when ctx
// is done.
func TestServeStops(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	ctx, cancel := context.WithCancel(t.Context())
	hup := make(chan os.Signal)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	done := make(chan int, 1)
	go func() {
		defer pw.Close()
		done <- Main(ctx, []string{"-config", path}, &Env{Stdout: pw, Stderr: pw, Reload: hup})
	}()
	lines := bufio.NewScanner(pr)
	waitFor := func(s string) {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), s) {
				return
			}
		}
		t.Fatalf("no log line with %q", s)
	}
	waitFor(`"msg":"started"`)
	writeConfig(t, dir, map[string]any{"pipeline": map[string]any{"interval": "10m"}})
	hup <- os.Interrupt // any value: the channel is the signal
	waitFor(`"msg":"pipeline replaced after reload"`)
	cancel()
	waitFor(`"msg":"stopped"`)
	assert.Equal(t, ExitOK, <-done)
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		assert.Equal(t, want, formatBytes(n), fmt.Sprint(n))
	}
}

// TestPostgresStore opens the daemon on PostgreSQL with the one config
// key, in a fresh schema, when MULTIDROP_PG_DSN names a server.
func TestPostgresStore(t *testing.T) {
	dsn := pgtest.Schema(t, "mddtest")

	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"store": map[string]any{"driver": "postgres", "dsn": dsn}})
	d := openDaemon(t, path, new(bytes.Buffer))
	_, err := d.Store().Put(t.Context(), account.Account{
		ID: "pg1", Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
		Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "s"},
	})
	require.NoError(t, err)
	// Stored in PostgreSQL (and no SQLite file was made: see below).
	s, err := postgres.Open(t.Context(), dsn, nil)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Get(t.Context(), "pg1")
	require.NoError(t, err)
	assert.Equal(t, "example.com", got.Domain)
	var out bytes.Buffer
	assert.Equal(t, ExitFailed, d.Once(t.Context(), "pg1", &Env{Stdout: &out, Stderr: &out}), "nothing listens on port 1")
	assert.NoFileExists(t, filepath.Join(dir, "multidrop.db"))
}

// TestReadableSecrets warns about a configuration file with a password
// that others can read, and runs a round over no accounts with status 0.
func TestReadableSecrets(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"admin": map[string]any{"listen": "127.0.0.1:0", "token": "0123456789abcdef0123"}})
	var stdout, stderr bytes.Buffer
	require.Equal(t, ExitOK, Main(t.Context(), []string{"-config", path, "-once"}, &Env{Stdout: &stdout, Stderr: &stderr}), stderr.String())
	assert.NotContains(t, stderr.String(), "chmod 600")
	require.NoError(t, os.Chmod(path, 0o644))
	stderr.Reset()
	require.Equal(t, ExitOK, Main(t.Context(), []string{"-config", path, "-once"}, &Env{Stdout: &stdout, Stderr: &stderr}), stderr.String())
	assert.Contains(t, stderr.String(), "chmod 600")
	assert.NotContains(t, stderr.String(), "0123456789abcdef0123")
	assert.Contains(t, stderr.String(), `"accounts":0,"failed":0`)
}

// TestServeDovecot runs the daemon as a service against the real Dovecot,
// once with the in-memory schedule and once with the schedule shared
// through the SQLite store: each time a message loaded into the mailbox
// reaches alice's Maildir, and the stop is clean.
func TestServeDovecot(t *testing.T) {
	srv := dovecottest.Get(t)
	user := srv.NewUser(t, "mdserve")
	dir := t.TempDir()
	host, port, err := net.SplitHostPort(srv.POP3S)
	require.NoError(t, err)
	portN, err := strconv.Atoi(port)
	require.NoError(t, err)
	maildir := filepath.Join(dir, "mail", "example.com", "alice", "Maildir")

	for i, schedule := range []string{"local", "shared"} {
		t.Run(schedule, func(t *testing.T) {
			// interval 10s: Run's first check comes within a tenth of it.
			path := writeConfig(t, dir, map[string]any{"pipeline": map[string]any{
				"local_host": "mx.test.example", "interval": "10s", "schedule": schedule,
			}})
			if i == 0 {
				d := openDaemon(t, path, new(bytes.Buffer))
				_, err := d.Store().Put(t.Context(), account.Account{
					ID: "dovecot", Enabled: true, Host: host, Port: portN, Domain: "example.com",
					Security: account.SecurityTLS,
					TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
					Auth:     account.Auth{User: user, Secret: dovecottest.Password},
				})
				require.NoError(t, err)
				require.NoError(t, d.Close())
			}
			m := msg("alice@example.com", "", "served "+schedule)
			srv.Load(t, user, m)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			defer pr.Close()
			done := make(chan int, 1)
			go func() {
				defer pw.Close()
				done <- Main(ctx, []string{"-config", path}, &Env{Stdout: pw, Stderr: pw})
			}()
			lines := bufio.NewScanner(pr)
			var logged strings.Builder
			finished := false
			for !finished && lines.Scan() {
				logged.WriteString(lines.Text() + "\n")
				finished = strings.Contains(lines.Text(), `"msg":"check finished"`)
			}
			require.True(t, finished, "no check in:\n%s", logged.String())
			assert.Contains(t, logged.String(), `"delivered":1`)
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			cancel()
			assert.Equal(t, ExitOK, <-done)

			var bodies []string
			for _, b := range maildirMessages(t, maildir) {
				_, rest := stripTrace(t, b)
				bodies = append(bodies, string(rest))
			}
			assert.Len(t, bodies, i+1)
			assert.Contains(t, bodies, string(dovecottest.Served(m)))
		})
	}
}

// TestOnceStopped: a stop asked for before the round leaves every account
// unchecked (status 1, and the table says why); the store is not touched
// through the cancelled context.
func TestOnceStopped(t *testing.T) {
	dir := t.TempDir()
	d := openDaemon(t, writeConfig(t, dir, nil), new(bytes.Buffer))
	for _, id := range []string{"a", "b"} {
		_, err := d.Store().Put(t.Context(), account.Account{
			ID: id, Enabled: true, Host: "127.0.0.1", Port: 1, Domain: "example.com",
			Security: account.SecurityTLS, Auth: account.Auth{User: "u", Secret: "s"},
		})
		require.NoError(t, err)
	}
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	var out bytes.Buffer
	assert.Equal(t, ExitFailed, d.Once(stopped, "", &Env{Stdout: &out, Stderr: &out, Terminal: true, Cut: t.Context()}))
	assert.Contains(t, out.String(), "0/2 accounts")
	assert.Regexp(t, `(?m)^\s*a\s+FAILED\s+0\s+0`, out.String())
	assert.Contains(t, out.String(), "b: "+ErrNotChecked.Error())
}

// TestRouteLMTPDovecot routes one user to Dovecot's LMTP and the others to
// Maildirs: the POP user of the test is also the LMTP recipient, so its
// Dovecot mailbox ends the round holding exactly the message routed to it.
func TestRouteLMTPDovecot(t *testing.T) {
	srv := dovecottest.Get(t)
	user := srv.NewUser(t, "mddlmtp")
	toAlice := msg("alice@example.com", "", "maildir route")
	toUser := msg(user+"@example.com", "", "lmtp route")
	srv.Load(t, user, toAlice, toUser)

	dir := t.TempDir()
	path := writeConfig(t, dir, map[string]any{"deliver": map[string]any{
		"default": "maildir",
		"maildir": map[string]any{"root": "mail"},
		"lmtp":    map[string]any{"address": srv.LMTP, "strip_domain": true},
		"routes":  map[string]any{user + "@example.com": "lmtp"},
	}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte("alice@example.com\n"+user+"@example.com\n"), 0o600))
	d := openDaemon(t, path, new(bytes.Buffer))
	host, port, err := net.SplitHostPort(srv.POP3)
	require.NoError(t, err)
	portN, err := strconv.Atoi(port)
	require.NoError(t, err)
	_, err = d.Store().Put(t.Context(), account.Account{
		ID: "lmtp", Enabled: true, Host: host, Port: portN, Domain: "example.com",
		Security: account.SecurityStartTLS,
		TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth:     account.Auth{User: user, Secret: dovecottest.Password},
	})
	require.NoError(t, err)
	var out bytes.Buffer
	require.Equal(t, ExitOK, d.Once(t.Context(), "lmtp", &Env{Stdout: &out, Stderr: &out}), out.String())

	alice := maildirMessages(t, filepath.Join(dir, "mail", "example.com", "alice", "Maildir"))
	require.Len(t, alice, 1)
	_, rest := stripTrace(t, alice[0])
	assert.Equal(t, string(dovecottest.Served(toAlice)), string(rest))

	var inbox [][]byte
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(srv.Maildir(user), sub))
		require.NoError(t, err)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(srv.Maildir(user), sub, e.Name()))
			require.NoError(t, err)
			inbox = append(inbox, b)
		}
	}
	require.Len(t, inbox, 1, "the two loaded messages were deleted; the routed one arrived by LMTP")
	assert.Contains(t, string(inbox[0]), "X-Multidrop-Loop: mx.test.example")
	assert.True(t, bytes.HasSuffix(bytes.ReplaceAll(inbox[0], []byte("\r\n"), []byte("\n")),
		bytes.ReplaceAll(dovecottest.Served(toUser), []byte("\r\n"), []byte("\n"))), "%q", inbox[0])
	_, err = os.Stat(filepath.Join(dir, "mail", "example.com", user))
	assert.True(t, os.IsNotExist(err), "the LMTP user has no Maildir of ours")
}

func TestWriteSummary(t *testing.T) {
	var b bytes.Buffer
	writeSummary(&b, []*multidrop.Report{
		{Account: "a", Listed: 12, Retrieved: 12, Delivered: 20, Deleted: 12, Bytes: 2048, Duration: 1500 * time.Millisecond, Committed: true},
		{Account: "long-account", Listed: 1, Kept: 1, Err: fmt.Errorf("pop: dial: refused\nsecond line")},
	})
	assert.Equal(t, ""+
		"ACCOUNT       STATUS  LISTED  RETRIEVED  DELIVERED  DELETED  KEPT  SKIPPED    BYTES  TIME\n"+
		"a             ok          12         12         20       12     0        0  2.0 KiB  1.5s\n"+
		"long-account  FAILED       1          0          0        0     1        0      0 B    0s\n"+
		"\n"+
		"long-account: pop: dial: refused; second line\n", b.String())
}
