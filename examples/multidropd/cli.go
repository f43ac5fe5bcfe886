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

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// Exit statuses.
const (
	ExitOK     = 0 // everything succeeded
	ExitFailed = 1 // -once or -check: at least one account's check failed
	ExitConfig = 2 // bad flags, configuration, store or account ID
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
	Terminal       bool
	// Reload receives a value for each SIGHUP; nil means none.
	Reload <-chan os.Signal
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
	fs := flag.NewFlagSet("multidropd", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	configPath := fs.String("config", DefaultConfig, "configuration `file` (JSON; see CONFIG.md)")
	once := fs.Bool("once", false, "check every enabled account once, then exit (status 1 if any check failed)")
	checkID := fs.String("check", "", "check the account with this `ID` once, then exit (status 1 if the check failed)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: multidropd [-config file] [-once | -check ID | -version]\n\n"+
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
	log := NewLogger(c, env.Stderr, level)
	if fi, err := os.Stat(c.File); err == nil && fi.Mode().Perm()&0o077 != 0 && hasSecrets(c) {
		log.Warn("the configuration file holds passwords and is readable by others; chmod 600 it", "file", c.File, "mode", fi.Mode().Perm().String())
	}
	d, err := Open(ctx, c, log, level)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	}
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
	for {
		select {
		case <-env.Reload:
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

// Once checks one account (id) or every enabled one (id == ""), shows
// progress and a summary on a terminal or logs otherwise, and returns the
// exit status. A signal during the round (ctx done) cuts the sessions: what
// was delivered is in the journal, so the next check deletes those
// messages without delivering them again.
func (d *Daemon) Once(ctx context.Context, id string, env *Env) int {
	p, _ := d.Pipeline()
	total := 1
	if id == "" {
		list, err := d.store.List(ctx, account.Filter{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "multidropd: listing accounts: %v\n", err)
			return ExitConfig
		}
		total = 0
		for _, a := range list {
			if a.Enabled {
				total++
			}
		}
	} else if _, err := d.store.Get(ctx, id); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			fmt.Fprintf(env.Stderr, "multidropd: -check: no account with ID %q\n", id)
		} else {
			fmt.Fprintf(env.Stderr, "multidropd: -check %s: %v\n", id, err)
		}
		return ExitConfig
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
		pr = &progress{w: env.Stdout, total: total}
		d.SetObserver(pr.event)
		defer d.SetObserver(nil)
	}
	var reports []*multidrop.Report
	var err error
	if id == "" {
		reports, err = p.CheckAll(ctx)
	} else {
		var r *multidrop.Report
		r, err = p.Check(ctx, id)
		if r == nil {
			r = &multidrop.Report{Account: id, Err: err}
		}
		reports = []*multidrop.Report{r}
	}
	if pr != nil {
		pr.finish()
		writeSummary(env.Stdout, reports)
	}
	failed := 0
	for _, r := range reports {
		if r.Err != nil {
			failed++
		}
	}
	d.log.Info("round finished", "accounts", len(reports), "failed", failed)
	switch {
	case err != nil && len(reports) == 0:
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	case failed > 0 || err != nil:
		return ExitFailed
	}
	return ExitOK
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
