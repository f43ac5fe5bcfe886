package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
)

// Exit statuses. When several apply, the lowest non-zero one wins:
// a failure hides kept messages, kept messages hide busy accounts.
const (
	ExitOK     = 0 // everything succeeded
	ExitFailed = 1 // -once or -check: at least one account's check failed
	ExitConfig = 2 // bad flags, configuration, store or account ID
	// ExitKept: -once or -check: every check ran, but at least one message
	// stayed on the server after a temporary delivery failure (a full
	// disk, a local server saying 4xx); the next run retries it.
	ExitKept = 3
	// ExitBusy: -once or -check: at least one account was not checked
	// because it was being checked already (another instance holds its
	// lease); nothing failed.
	ExitBusy = 4
)

// DefaultConfig is the configuration file used without -config.
const DefaultConfig = "/etc/multidrop/multidropd.json"

// version is set at link time (-ldflags "-X main.version=1.2.3"); empty
// means the module version from the build information.
var version string

// Env is what Main runs with: the process's standard streams, whether
// standard output is a terminal, and the SIGHUP channel.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is where secrets and JSON input are read from (os.Stdin when
	// nil).
	Stdin    io.Reader
	Terminal bool
	// Reload receives a value for each SIGHUP; nil means none.
	Reload <-chan os.Signal
	// Cut is done at the second SIGINT or SIGTERM (Main's ctx at the
	// first): -once and -check then cut their sessions, and the daemon
	// exits without waiting for its checks. Nil means Main's ctx.
	Cut context.Context
	// Signals, when set, receives SIGINT and SIGTERM: Main logs each on
	// arrival, stops at the first (as if ctx were done) and cuts at the
	// second (as if Cut were done).
	Signals <-chan os.Signal
}

// Version returns the program's version line.
func Version() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("multidropd %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Main runs the program with args (without the program name) until ctx is
// done, and returns the exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	if len(args) > 0 {
		switch args[0] {
		case "hash-password":
			return hashPassword(args[1:], env)
		case "accounts":
			return accountsMain(ctx, args[1:], env)
		}
	}
	fs := flag.NewFlagSet("multidropd", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	configPath := fs.String("config", DefaultConfig, "configuration `file` (JSON; see CONFIG.md)")
	once := fs.Bool("once", false, "check every enabled account once, then exit (status 1 if any check failed)")
	checkID := fs.String("check", "", "check the account with this `ID` once, then exit (status 1 if the check failed)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: multidropd [-config file] [-once | -check ID | -version]\n"+
			"       multidropd accounts [-config file] COMMAND ...   (multidropd accounts -h)\n"+
			"       multidropd hash-password < password\n\n"+
			"multidropd collects mail from remote POP3 multidrop mailboxes and delivers\n"+
			"it to the users of their domains. Without -once or -check it runs until\n"+
			"SIGTERM or SIGINT; SIGHUP reloads the configuration and the user directory.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "multidropd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return ExitConfig
	}
	if *showVersion {
		fmt.Fprintln(env.Stdout, Version())
		return ExitOK
	}
	if *once && *checkID != "" {
		fmt.Fprintln(env.Stderr, "multidropd: -once and -check exclude each other")
		return ExitConfig
	}

	c, err := LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	}
	level := new(slog.LevelVar)
	logW := env.Stderr
	var con *console
	if env.Terminal {
		con = &console{out: env.Stdout, log: env.Stderr}
		logW = con
	}
	log := NewLogger(c, logW, level)
	if env.Signals != nil {
		var stop, cutNow context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		cut := env.Cut
		if cut == nil {
			cut = context.Background()
		}
		cut, cutNow = context.WithCancel(cut)
		defer cutNow()
		env2 := *env
		env2.Cut = cut
		env = &env2
		go signals(env.Signals, log, stop, cutNow)
	}
	if fi, err := os.Stat(c.File); err == nil && fi.Mode().Perm()&0o077 != 0 && hasSecrets(c) {
		log.Warn("the configuration file holds passwords and is readable by others; chmod 600 it", "file", c.File, "mode", fi.Mode().Perm().String())
	}
	d, err := Open(ctx, c, log, level)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	}
	d.console = con
	defer func() {
		if err := d.Close(); err != nil {
			log.Error("closing the store", "err", err)
		}
	}()

	if *once || *checkID != "" {
		return d.Once(ctx, *checkID, env)
	}

	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	log.Info("started", "version", Version(), "config", c.File, "store", c.Store.Driver)
	var cut <-chan struct{}
	if env.Cut != nil {
		cut = env.Cut.Done()
	}
	for {
		select {
		case <-cut:
			log.Warn("second signal: exiting without waiting for the running checks (the journal keeps what they delivered)")
			return ExitFailed
		case s := <-env.Reload:
			log.Info("signal received; reloading the configuration", "signal", signalName(s))
			if err := d.Reload(ctx); err != nil {
				log.Error("reload failed; the running configuration stays in force", "err", err)
			}
		case err := <-done:
			if err != nil {
				log.Error("stopped", "err", err)
				if _, ok := errors.AsType[*ConfigError](err); ok {
					return ExitConfig
				}
				return ExitFailed
			}
			return ExitOK
		}
	}
}

// signals logs each SIGINT or SIGTERM from ch as it arrives; the first
// calls stop, the second cut.
func signals(ch <-chan os.Signal, log *slog.Logger, stop, cut context.CancelFunc) {
	n := 0
	for s := range ch {
		n++
		if n == 1 {
			log.Info("signal received; stopping after the running checks (a second signal cuts them)", "signal", signalName(s))
			stop()
			continue
		}
		log.Warn("signal received again; cutting the running checks", "signal", signalName(s))
		cut()
	}
}

// signalName is the conventional name of s ("SIGTERM").
func signalName(s os.Signal) string {
	if s == nil {
		return ""
	}
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// ErrNotChecked is the error of an account that -once did not check
// because a stop was asked for before its turn.
var ErrNotChecked = errors.New("not checked: stopping")

// Once checks one account (id) or every enabled one (id == ""), shows
// progress and a summary on a terminal or logs otherwise, and returns the
// exit status. When ctx is done (the first SIGINT or SIGTERM) no further
// check starts and the running ones run to their end (every message
// handled, deletions committed); only env.Cut (the second signal) cuts
// their sessions, and even then what was delivered is in the journal, so
// the next check deletes those messages without delivering them again.
func (d *Daemon) Once(ctx context.Context, id string, env *Env) int {
	p, _ := d.Pipeline()
	cut := env.Cut
	if cut == nil {
		cut = ctx
	}
	var ids []string
	if id == "" {
		list, err := d.store.List(cut, account.Filter{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "multidropd: listing accounts: %v\n", err)
			return ExitConfig
		}
		for _, a := range list {
			if a.Enabled {
				ids = append(ids, a.ID)
			}
		}
	} else if _, err := d.store.Get(cut, id); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			fmt.Fprintf(env.Stderr, "multidropd: -check: no account with ID %q\n", id)
		} else {
			fmt.Fprintf(env.Stderr, "multidropd: -check %s: %v\n", id, err)
		}
		return ExitConfig
	} else {
		ids = []string{id}
	}

	var pr *progress
	if env.Terminal {
		// The summary table says what the info lines would; warnings and
		// errors still go to standard error.
		if d.level.Level() < slog.LevelWarn {
			old := d.level.Level()
			d.level.Set(slog.LevelWarn)
			defer d.level.Set(old)
		}
		con := d.console
		if con == nil {
			con = &console{out: env.Stdout, log: io.Discard}
		}
		pr = &progress{c: con, total: len(ids)}
		d.SetObserver(pr.event)
		defer d.SetObserver(nil)
	}
	conc := d.Config().Pipeline.Concurrency
	if conc <= 0 {
		conc = 4 // the Pipeline's default
	}
	reports := round(ctx, cut, p, ids, conc)
	if pr != nil {
		pr.finish()
		writeSummary(env.Stdout, reports)
	}
	s := summarize(reports)
	for _, r := range reports {
		if errors.Is(r.Err, multidrop.ErrAccountBusy) {
			d.log.Warn("account not checked: another check holds it", "account", r.Account, "reason", r.Err.Error())
		}
	}
	attrs := []any{"accounts", s.Accounts, "failed", s.Failed, "busy", s.Busy, "kept_temporary", s.KeptTemporary}
	if s.KeptTemporary > 0 {
		attrs = append(attrs, "kept_reason", s.KeptReason)
	}
	if s.Deferred > 0 {
		attrs = append(attrs, "deferred", s.Deferred, "deferred_until", s.DeferredUntil)
	}
	d.log.Info("round finished", attrs...)
	if pr != nil {
		fmt.Fprintln(env.Stdout, s.String())
	}
	return s.ExitStatus()
}

// Summary counts the outcome of a round of checks.
type Summary struct {
	Accounts int // accounts in the round
	Failed   int // checks that failed (not counting Busy)
	Busy     int // accounts not checked: another check or instance held them
	// KeptTemporary counts the messages left on the server after a
	// temporary delivery failure for at least one recipient, over all
	// accounts; KeptReason is the first such failure's error.
	KeptTemporary int
	KeptReason    string
	// Deferred counts the accounts not connected to because the server's
	// LOGIN-DELAY allows no login yet (not a failure); DeferredUntil is
	// the earliest of their next logins.
	Deferred      int
	DeferredUntil time.Time
}

// summarize counts reports: a report whose Err is ErrAccountBusy is busy,
// one whose Err is a *DeferredError deferred, any other Err a failure; kept messages are those a Report says were kept
// with a temporary delivery result.
func summarize(reports []*multidrop.Report) Summary {
	s := Summary{Accounts: len(reports)}
	for _, r := range reports {
		switch {
		case errors.Is(r.Err, multidrop.ErrAccountBusy):
			s.Busy++
		case deferred(r.Err):
			t, _ := deferredUntil(r.Err)
			if s.Deferred == 0 || t.Before(s.DeferredUntil) {
				s.DeferredUntil = t
			}
			s.Deferred++
		case r.Err != nil:
			s.Failed++
		}
		for i := range r.Messages {
			m := &r.Messages[i]
			if m.Action != pop.Keep {
				continue
			}
			for _, res := range m.Results {
				if res.Status == deliver.Temporary {
					s.KeptTemporary++
					if s.KeptReason == "" && res.Err != nil {
						s.KeptReason = oneLine(res.Err.Error())
					}
					break
				}
			}
		}
	}
	return s
}

// ExitStatus returns the exit status of -once or -check for s.
func (s Summary) ExitStatus() int {
	switch {
	case s.Failed > 0:
		return ExitFailed
	case s.KeptTemporary > 0:
		return ExitKept
	case s.Busy > 0:
		return ExitBusy
	}
	return ExitOK
}

// String is the one-line summary -once and -check end with.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s checked: %d ok, %d failed, %d busy", s.Accounts, plural(s.Accounts, "account", "accounts"),
		s.Accounts-s.Failed-s.Busy-s.Deferred, s.Failed, s.Busy)
	if s.Deferred > 0 {
		fmt.Fprintf(&b, ", %d deferred by LOGIN-DELAY until %s", s.Deferred, s.DeferredUntil.Local().Format("15:04"))
	}
	if s.KeptTemporary > 0 {
		fmt.Fprintf(&b, "; %d %s kept after a temporary delivery failure", s.KeptTemporary, plural(s.KeptTemporary, "message", "messages"))
		if s.KeptReason != "" {
			fmt.Fprintf(&b, " (%s)", s.KeptReason)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// round checks the accounts ids, conc at once, and returns their reports
// in order. Once stop is done no further check starts (those accounts get
// a report with ErrNotChecked); the checks run under cut.
func round(stop, cut context.Context, p *multidrop.Pipeline, ids []string, conc int) []*multidrop.Report {
	reports := make([]*multidrop.Report, len(ids))
	var g errgroup.Group
	g.SetLimit(conc)
	for i, id := range ids {
		g.Go(func() error {
			if stop.Err() != nil {
				reports[i] = &multidrop.Report{Account: id, Err: ErrNotChecked}
				return nil
			}
			r, err := p.Check(cut, id)
			if r == nil {
				r = &multidrop.Report{Account: id, Err: err}
			}
			reports[i] = r
			return nil
		})
	}
	_ = g.Wait()
	return reports
}

// hasSecrets reports whether c holds a password or token.
func hasSecrets(c *Config) bool {
	return c.Admin.Password != "" || c.Admin.Token != "" ||
		(c.Deliver.SMTP != nil && c.Deliver.SMTP.Password != "") ||
		strings.Contains(c.Store.DSN, "password=") || dsnHasURLPassword(c.Store.DSN)
}

func dsnHasURLPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}
