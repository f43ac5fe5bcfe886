package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/jsonstore"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/admin"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/resolve"
	"github.com/multidrop/multidrop/schedule"
)

// storeOpenTimeout bounds opening the account store (a PostgreSQL server
// that does not answer, say).
const storeOpenTimeout = 30 * time.Second

// shutdownTimeout bounds the admin server's graceful shutdown.
const shutdownTimeout = 10 * time.Second

var smtpTLSModes = map[string]deliver.TLSMode{
	"":                         deliver.STARTTLSUnlessLoopback,
	"starttls-unless-loopback": deliver.STARTTLSUnlessLoopback,
	"starttls":                 deliver.STARTTLSRequired,
	"implicit":                 deliver.ImplicitTLS,
	"none":                     deliver.NoTLS,
}

var smtpTLSNames = []string{"starttls-unless-loopback", "starttls", "implicit", "none"}

// parseLevel parses log.level; "" is info.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// NewLogger returns the logger the configuration asks for, writing to w,
// with its level in level (so that a reload can change it).
func NewLogger(c *Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
	l, _ := parseLevel(c.Log.Level)
	level.Set(l)
	o := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(noNilErr{slog.NewJSONHandler(w, o)})
	}
	return slog.New(noNilErr{slog.NewTextHandler(w, o)})
}

// noNilErr is a slog.Handler that leaves out attributes whose value is a
// nil error (a check that succeeded logs no "err=<nil>").
type noNilErr struct{ slog.Handler }

func isNilErr(a slog.Attr) bool {
	if a.Value.Kind() != slog.KindAny {
		return false
	}
	v := a.Value.Any()
	if v == nil {
		return a.Key == "err" || a.Key == "error"
	}
	if e, ok := v.(error); ok {
		rv := reflect.ValueOf(e)
		return rv.Kind() == reflect.Pointer && rv.IsNil()
	}
	return false
}

func (h noNilErr) Handle(ctx context.Context, r slog.Record) error {
	drop := false
	r.Attrs(func(a slog.Attr) bool {
		drop = drop || isNilErr(a)
		return !drop
	})
	if !drop {
		return h.Handler.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !isNilErr(a) {
			nr.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, nr)
}

func (h noNilErr) WithAttrs(as []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if !isNilErr(a) {
			kept = append(kept, a)
		}
	}
	return noNilErr{h.Handler.WithAttrs(kept)}
}

func (h noNilErr) WithGroup(name string) slog.Handler { return noNilErr{h.Handler.WithGroup(name)} }

// Daemon is the wired daemon: the store, the user directory, the
// deliverer and the Pipeline built from a Config. Reload replaces what can
// change without a restart.
type Daemon struct {
	log   *slog.Logger
	level *slog.LevelVar
	owner string

	store   account.MutableStore
	journal account.Journal
	locker  account.Locker
	closers []io.Closer

	// console, when set, is the terminal the logger writes to through
	// it: -once draws its progress line there, below the log lines.
	console *console

	observer atomic.Pointer[func(multidrop.Event)]
	metrics  *admin.Metrics // fed by every Pipeline, served on /metrics
	// history keeps the last checks of each account for the admin page:
	// the store's own (SQLite, PostgreSQL) or the history file (JSON).
	history account.History
	record  func(multidrop.Event)
	reload  sync.Mutex // serialises Reload

	mu      sync.Mutex
	cfg     *Config
	dir     *resolve.File
	p       *multidrop.Pipeline
	retired []*multidrop.Pipeline // replaced by reloads, newest first, for their reports
	changed chan struct{}         // closed when p is replaced
	sched   *schedule.Schedule    // p's running schedule, nil between runs
}

// maxRetired bounds the replaced Pipelines kept for their last reports.
const maxRetired = 4

// Open wires a Daemon from c. Nothing is written before every part of the
// configuration that can be checked has been: the store, the only part
// that writes, is opened last. Errors name the file and the key.
func Open(ctx context.Context, c *Config, log *slog.Logger, level *slog.LevelVar) (*Daemon, error) {
	if log == nil {
		log = slog.Default()
	}
	if level == nil {
		level = new(slog.LevelVar)
	}
	owner := c.Pipeline.Owner
	if owner == "" {
		// Names host and process: a restart after a crash takes over
		// the dead process's leases at once.
		owner = account.ProcessOwner()
	}
	d := &Daemon{log: log, level: level, owner: owner, cfg: c, changed: make(chan struct{}), metrics: admin.NewMetrics()}

	dir, err := openDirectory(c, log)
	if err != nil {
		return nil, err
	}
	d.dir = dir
	if _, err := newDeliverer(c, log); err != nil {
		return nil, err
	}
	if err := checkDir(c.Pipeline.SpoolDir); err != nil {
		return nil, keyError(c, "pipeline.spool_dir", err)
	}
	if err := d.openStore(ctx, c); err != nil {
		return nil, err
	}
	p, err := d.newPipeline(c, dir)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.p = p
	return d, nil
}

// keyError is a *ConfigError about key of c's file, for problems found
// while wiring.
func keyError(c *Config, key string, err error) error {
	return &ConfigError{File: c.File, Key: key, Msg: errText(err), Err: err}
}

func checkDir(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

func openDirectory(c *Config, log *slog.Logger) (*resolve.File, error) {
	f, err := resolve.OpenFile(c.Directory.Path, &resolve.FileOptions{
		CheckInterval: time.Duration(c.Directory.CheckInterval),
		CaseSensitive: c.Directory.CaseSensitive,
		Logger:        log,
	})
	if err != nil {
		return nil, keyError(c, "directory.path", err)
	}
	return f, nil
}

// releaseGone releases the leases that crashed processes of this host
// held, so that the shared schedule resumes their accounts at once (a
// direct check takes such a lease over by itself).
func (d *Daemon) releaseGone(ctx context.Context, st *sqlstore.Store) {
	n, err := st.ReleaseGone(ctx)
	if err != nil {
		d.log.Warn("releasing the leases of crashed processes", "err", err)
	} else if n > 0 {
		d.log.Info("released the leases of crashed processes of this host", "leases", n)
	}
}

func (d *Daemon) openStore(ctx context.Context, c *Config) error {
	ctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	s := c.Store
	switch s.Driver {
	case "sqlite":
		if err := checkDir(dirOf(s.Path)); err != nil {
			return keyError(c, "store.path", err)
		}
		st, err := sqlite.Open(ctx, s.Path, nil)
		if err != nil {
			return keyError(c, "store.path", err)
		}
		d.store, d.journal, d.locker, d.closers = st, st, st, []io.Closer{st}
		d.releaseGone(ctx, st)
	case "postgres":
		st, err := postgres.Open(ctx, s.DSN, nil)
		if err != nil {
			return keyError(c, "store.dsn", err)
		}
		d.store, d.journal, d.locker, d.closers = st, st, st, []io.Closer{st}
		d.releaseGone(ctx, st)
	case "json":
		for _, k := range []struct{ key, path string }{{"store.path", s.Path}, {"store.journal", s.Journal}, {"store.leases", s.Leases}, {"store.history", s.History}} {
			if err := checkDir(dirOf(k.path)); err != nil {
				return keyError(c, k.key, err)
			}
		}
		// The store keeps a deleted account's journal for the retention
		// period, so the account created again finds what it delivered.
		j, err := jsonstore.OpenJournal(s.Journal, nil)
		if err != nil {
			return keyError(c, "store.journal", err)
		}
		st, err := jsonstore.Open(s.Path, &jsonstore.Options{Journal: j})
		if err != nil {
			_ = j.Close()
			return keyError(c, "store.path", err)
		}
		l, err := jsonstore.OpenLocker(s.Leases, nil)
		if err != nil {
			_ = st.Close()
			_ = j.Close()
			return keyError(c, "store.leases", err)
		}
		h, err := jsonstore.OpenHistory(s.History, nil)
		if err != nil {
			_ = st.Close()
			_ = j.Close()
			_ = l.Close()
			return keyError(c, "store.history", err)
		}
		d.store, d.journal, d.locker, d.history, d.closers = st, j, l, h, []io.Closer{st, j, l, h}
	default:
		return keyError(c, "store.driver", fmt.Errorf("unknown driver %q", s.Driver))
	}
	if d.history == nil {
		if h, ok := d.store.(account.History); ok {
			d.history = h
		} else {
			d.history = account.NewMemoryHistory()
		}
	}
	d.record = admin.HistoryRecorder(d.history, d.log)
	// An unreachable or unreadable store fails now, not at the first check.
	if _, err := d.store.List(ctx, account.Filter{}); err != nil {
		_ = d.Close()
		return &ConfigError{File: c.File, Key: "store", Msg: "cannot list the accounts: " + err.Error(), Err: err}
	}
	return nil
}

func dirOf(path string) string {
	i := strings.LastIndexByte(path, os.PathSeparator)
	if i <= 0 {
		return string(os.PathSeparator)
	}
	return path[:i]
}

func traceOptions(c *Config, method string) deliver.TraceOptions {
	t := c.Deliver.Trace
	on := func(b *bool, def bool) bool {
		if b == nil {
			return def
		}
		return *b
	}
	o := deliver.TraceOptions{
		LocalHost:  c.Pipeline.LocalHost,
		ReturnPath: on(t.ReturnPath, method == methodMaildir),
		// Dovecot's LMTP adds its own Delivered-To; a relayed message
		// must not carry ours.
		DeliveredTo: on(t.DeliveredTo, method == methodMaildir) && method == methodMaildir,
		LoopStamp:   on(t.LoopStamp, true),
	}
	switch t.EnvelopeFields {
	case "remove":
		o.Hygiene.Action = deliver.RemoveEnvelopeFields
	case "keep":
		o.Hygiene.Action = deliver.KeepEnvelopeFields
	}
	return o
}

// newDeliverer builds the deliverer of c: one method, or a Route over
// several.
func newDeliverer(c *Config, log *slog.Logger) (deliver.Deliverer, error) {
	dc := c.Deliver
	methods := map[string]deliver.Deliverer{}
	if m := dc.Maildir; m != nil {
		if err := checkDir(m.Root); err != nil {
			return nil, keyError(c, "deliver.maildir.root", err)
		}
		to := traceOptions(c, methodMaildir)
		md, err := deliver.NewMaildir(&deliver.MaildirOptions{
			Template:      m.Template,
			Root:          m.Root,
			Folder:        m.Folder,
			Create:        m.Create == nil || *m.Create,
			LF:            m.LF,
			NoKeyNames:    m.KeyNames != nil && !*m.KeyNames,
			Separate:      m.Separate,
			TraceOptions:  to,
			NoDeliveredTo: !to.DeliveredTo,
			Host:          c.Pipeline.LocalHost,
			SpoolDir:      c.Pipeline.SpoolDir,
		})
		if err != nil {
			return nil, keyError(c, "deliver.maildir", err)
		}
		methods[methodMaildir] = md
	}
	if l := dc.LMTP; l != nil {
		o := &deliver.LMTPOptions{TraceOptions: traceOptions(c, methodLMTP), Logger: log}
		if l.StripDomain {
			o.RcptTo = func(r string) string {
				if i := strings.LastIndexByte(r, '@'); i > 0 {
					return r[:i]
				}
				return r
			}
		}
		methods[methodLMTP] = deliver.NewLMTP(l.Network, l.Address, o)
	}
	if s := dc.SMTP; s != nil {
		o := &deliver.SMTPOptions{TraceOptions: traceOptions(c, methodSMTP), TLS: smtpTLSModes[s.TLS], Logger: log}
		if s.CAFile != "" || s.ServerName != "" {
			tc := &tls.Config{ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
			if s.CAFile != "" {
				pem, err := os.ReadFile(s.CAFile)
				if err != nil {
					return nil, keyError(c, "deliver.smtp.ca_file", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, keyError(c, "deliver.smtp.ca_file", errors.New("no PEM certificate in the file"))
				}
				tc.RootCAs = pool
			}
			o.TLSConfig = tc
		}
		if s.User != "" {
			user, pass := s.User, s.Password
			o.Auth = func() sasl.Client { return sasl.NewPlainClient("", user, pass) }
		}
		methods[methodSMTP] = deliver.NewSMTP(s.Address, o)
	}
	if len(dc.Routes) == 0 {
		return methods[dc.Default], nil
	}
	ro := &deliver.RouteOptions{
		Addresses: map[string]deliver.Deliverer{},
		Domains:   map[string]deliver.Deliverer{},
		Default:   methods[dc.Default],
		SpoolDir:  c.Pipeline.SpoolDir,
	}
	for k, v := range dc.Routes {
		if strings.Contains(k, "@") {
			ro.Addresses[k] = methods[v]
		} else {
			ro.Domains[k] = methods[v]
		}
	}
	return deliver.NewRoute(ro), nil
}

func (d *Daemon) newPipeline(c *Config, dir *resolve.File) (*multidrop.Pipeline, error) {
	return d.newPipelineOver(d.store, c, dir)
}

// newPipelineOver is newPipeline reading the accounts from store.
func (d *Daemon) newPipelineOver(store account.Store, c *Config, dir *resolve.File) (*multidrop.Pipeline, error) {
	dl, err := newDeliverer(c, d.log)
	if err != nil {
		return nil, err
	}
	pc := c.Pipeline
	p, err := multidrop.New(&multidrop.Options{
		Store:       d.gate(store), // see logindelay.go
		Journal:     d.journal,
		Locker:      d.locker,
		Lease:       multidrop.LeaseOptions{Owner: d.owner, TTL: time.Duration(pc.LeaseTTL)},
		Resolver:    resolve.New(dir, nil),
		Deliverer:   dl,
		Spool:       multidrop.SpoolOptions{Dir: pc.SpoolDir, MaxMessageSize: pc.MaxMessageSize},
		Concurrency: pc.Concurrency,
		Guard:       multidrop.GuardOptions{Min: pc.GuardMin, Share: pc.GuardShare, Window: pc.GuardWindow},
		LocalHost:   pc.LocalHost,
		Logger:      d.log,
		Observer:    d.observe,
	})
	if err != nil {
		return nil, keyError(c, "pipeline", err)
	}
	return p, nil
}

func (d *Daemon) observe(e multidrop.Event) {
	d.metrics.Observe(e)
	if d.record != nil {
		d.record(e)
	}
	if f := d.observer.Load(); f != nil {
		(*f)(e)
	}
}

// SetObserver sets the function that receives the Pipeline's events (nil:
// none); it survives reloads.
func (d *Daemon) SetObserver(f func(multidrop.Event)) {
	if f == nil {
		d.observer.Store(nil)
		return
	}
	d.observer.Store(&f)
}

// Pipeline returns the current Pipeline and a channel closed when a reload
// replaces it.
func (d *Daemon) Pipeline() (*multidrop.Pipeline, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.p, d.changed
}

// Store returns the account store.
func (d *Daemon) Store() account.MutableStore { return d.store }

// Config returns the configuration in force.
func (d *Daemon) Config() *Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Close closes the store.
func (d *Daemon) Close() error {
	var errs []error
	for _, c := range d.closers {
		errs = append(errs, c.Close())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// Reload re-reads the configuration file and the user directory (what
// SIGHUP does). The log level, the directory, the delivery settings and
// the pipeline settings take effect at once (the running round finishes
// with the old Pipeline); the store, the admin server and the log format
// need a restart and are kept, with a warning. On any error the running
// configuration stays in force entirely.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()

	c, err := LoadConfig(old.File)
	if err != nil {
		return err
	}
	for _, k := range []struct {
		key      string
		old, new any
	}{{"store", old.Store, c.Store}, {"admin", old.Admin, c.Admin}, {"log.format", old.Log.Format, c.Log.Format}} {
		if !reflect.DeepEqual(k.old, k.new) {
			d.log.Warn("configuration changed where a restart is needed; keeping the running value", "file", c.File, "key", k.key)
		}
	}
	c.Store, c.Admin, c.Log.Format = old.Store, old.Admin, old.Log.Format

	d.mu.Lock()
	oldDir := d.dir
	d.mu.Unlock()
	dir := oldDir
	if !reflect.DeepEqual(old.Directory, c.Directory) {
		if dir, err = openDirectory(c, d.log); err != nil {
			return err
		}
	} else if err := dir.Reload(); err != nil {
		return keyError(c, "directory.path", err)
	}
	if err := checkDir(c.Pipeline.SpoolDir); err != nil {
		return keyError(c, "pipeline.spool_dir", err)
	}
	rebuild := dir != oldDir || !reflect.DeepEqual(old.Deliver, c.Deliver) || !reflect.DeepEqual(old.Pipeline, c.Pipeline)
	var p *multidrop.Pipeline
	if rebuild {
		if p, err = d.newPipeline(c, dir); err != nil {
			return err
		}
	}

	lvl, _ := parseLevel(c.Log.Level)
	d.level.Set(lvl)
	d.mu.Lock()
	d.cfg, d.dir = c, dir
	if p != nil {
		d.retired = append([]*multidrop.Pipeline{d.p}, d.retired...)[:min(len(d.retired)+1, maxRetired)]
		d.p = p
		close(d.changed)
		d.changed = make(chan struct{})
	}
	d.mu.Unlock()
	d.log.Info("configuration reloaded", "file", c.File, "users", dir.Len(), "new_pipeline", rebuild)
	return nil
}

// Serve runs the daemon until ctx is done: the Pipeline's schedule, and
// the admin server when configured. A reload that replaces the Pipeline
// stops the old one's round gracefully and starts the new one. When ctx is
// done the running checks finish the message in hand and commit, and the
// admin server shuts down (waiting at most shutdownTimeout).
func (d *Daemon) Serve(ctx context.Context) error {
	srv, err := d.startAdmin()
	if err != nil {
		return err
	}
	defer func() {
		if srv == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			d.log.Warn("admin server shutdown", "err", err)
		}
		// Stop the Check Now requests still running in the background.
		_ = srv.Handler.(*adminServerHandler).page.Close()
	}()
	for {
		p, changed := d.Pipeline()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.run(rctx, p) }()
		select {
		case <-ctx.Done():
			cancel()
			err := <-done
			d.log.Info("stopped")
			return err
		case <-changed:
			cancel()
			if err := <-done; err != nil {
				return err
			}
			d.log.Info("pipeline replaced after reload")
		case err := <-done:
			// Run ends by itself only when ctx is done (racing the case
			// above) or on an error.
			cancel()
			if err == nil && ctx.Err() != nil {
				d.log.Info("stopped")
			}
			return err
		}
	}
}

// run runs p's schedule: in memory (schedule.Schedule.Run), or shared
// with the other instances through the store (RunShared).
func (d *Daemon) run(ctx context.Context, p *multidrop.Pipeline) error {
	c := d.Config()
	pc := c.Pipeline
	sch, _ := d.locker.(account.Scheduler) // else the store's, if any
	s, err := schedule.New(p, d.store, &schedule.Options{
		Interval:    time.Duration(pc.Interval),
		Concurrency: pc.Concurrency,
		Scheduler:   sch,
		Owner:       d.owner,
		LeaseTTL:    time.Duration(pc.LeaseTTL),
		Poll:        time.Duration(pc.Poll),
		Logger:      d.log,
		Observer:    d.observe,
	})
	if err != nil {
		return keyError(c, "pipeline", err)
	}
	d.mu.Lock()
	d.sched = s
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.sched == s {
			d.sched = nil
		}
		d.mu.Unlock()
	}()
	if pc.Schedule == "shared" {
		return s.RunShared(ctx)
	}
	return s.Run(ctx)
}

// Schedule returns the running schedule, or nil when none runs (-once,
// -check, between a reload's two schedules).
func (d *Daemon) Schedule() *schedule.Schedule {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched
}

// startAdmin listens on admin.listen, if set, and serves the admin page
// behind the configured authentication.
func (d *Daemon) startAdmin() (*http.Server, error) {
	c := d.Config()
	if c.Admin.Listen == "" {
		return nil, nil
	}
	h, err := d.adminHandler()
	if err != nil {
		return nil, keyError(c, "admin", err)
	}
	ln, err := net.Listen("tcp", c.Admin.Listen)
	if err != nil {
		return nil, keyError(c, "admin.listen", err)
	}
	srv := newAdminServer(&adminServerHandler{ServeMux: d.adminMux(c.Admin, h), page: h}, slog.NewLogLogger(d.log.Handler(), slog.LevelWarn))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin server", "err", err)
		}
	}()
	d.log.Info("admin server listening", "addr", ln.Addr().String())
	return srv, nil
}
