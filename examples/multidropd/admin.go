package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/admin"
	"github.com/multidrop/multidrop/probe"
	"github.com/multidrop/multidrop/resolve"
)

// adminHandler returns the Remote POP Accounts page over the daemon's
// store. Its checks go to whichever Pipeline is current, so a reload does
// not invalidate the page (or its anti-CSRF tokens).
func (d *Daemon) adminHandler() (*admin.Handler, error) {
	h, err := admin.New(&admin.Options{
		Store:   d.store,
		Checker: checker{d},
		History: d.history,
		Prober:  prober{d},
		Logger:  d.log,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// adminMux routes the admin listener: /healthz and /readyz answer without
// authentication (they reveal nothing but "ok" or "store unreachable");
// /metrics and the page need the configured credentials.
func (d *Daemon) adminMux(c AdminConfig, page http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", admin.Healthz())
	mux.Handle("GET /readyz", admin.Readyz(d.store, 5*time.Second))
	mux.Handle("GET /metrics", requireAuth(c, d.metrics))
	mux.Handle("/", requireAuth(c, page))
	return mux
}

// adminServerHandler is the admin listener's handler, with the page whose
// background checks end when the server does.
type adminServerHandler struct {
	*http.ServeMux
	page *admin.Handler
}

// checker is an admin.Checker over the daemon's current Pipeline.
type checker struct{ d *Daemon }

var (
	_ admin.Checker     = checker{}
	_ admin.Resumer     = checker{}
	_ admin.OnceChecker = checker{}
)

func (c checker) Check(ctx context.Context, id string) (*multidrop.Report, error) {
	p, _ := c.d.Pipeline()
	return p.Check(ctx, id)
}

// CheckOnce checks one account once even when it is disabled
// (admin.OnceChecker): a Pipeline of the current configuration over a view
// of the store in which that account is enabled. The lease of the store's
// Locker keeps it from running beside another check of the account.
func (c checker) CheckOnce(ctx context.Context, id string) (*multidrop.Report, error) {
	d := c.d
	d.mu.Lock()
	cfg, dir := d.cfg, d.dir
	d.mu.Unlock()
	p, err := d.newPipelineOver(enabledView{Store: d.store, id: id}, cfg, dir)
	if err != nil {
		return nil, err
	}
	return p.Check(ctx, id)
}

// enabledView is a Store in which one account is enabled.
type enabledView struct {
	account.Store
	id string
}

func (v enabledView) Get(ctx context.Context, id string) (account.Account, error) {
	a, err := v.Store.Get(ctx, id)
	if err == nil && id == v.id {
		a.Enabled = true
	}
	return a, err
}

// Status is the running schedule's state of an account
// (admin.StatusSource): the next check, a pause, a backoff and its reason.
// Without a running schedule (-once, between a reload's two schedules) or
// under the shared schedule, whose state lives in the store, it is empty.
func (c checker) Status(id string) admin.Status {
	s := c.d.Schedule()
	if s == nil {
		return admin.Status{}
	}
	st, ok := s.Status(id)
	if !ok {
		return admin.Status{}
	}
	out := admin.Status{Next: st.Next, Paused: st.Paused}
	switch {
	case st.LoginDelay > 0:
		out.Backoff = fmt.Sprintf("the server allows a login every %s (LOGIN-DELAY)", st.LoginDelay)
	case st.Failures == 1:
		out.Backoff = "the last check failed"
	case st.Failures > 1:
		out.Backoff = fmt.Sprintf("the last %d checks failed", st.Failures)
	}
	return out
}

var (
	_ admin.StatusSource = checker{}
	_ admin.Resumer      = checker{}
)

// Resume wakes a paused account (admin.Resumer): its running schedule
// checks it at once. It reports false when no schedule runs.
func (c checker) Resume(id string) bool {
	s := c.d.Schedule()
	return s != nil && s.Wake(context.Background(), id) == nil
}

var _ admin.GuardKeeper = checker{}

// Guard is the deletion guard's state of an account (admin.GuardKeeper),
// from the current Pipeline's journal.
func (c checker) Guard(ctx context.Context, id string) (account.Guard, error) {
	p, _ := c.d.Pipeline()
	return p.Guard(ctx, id)
}

// ReleaseGuard releases the deletion guard of an account
// (admin.GuardKeeper), as "multidropd accounts release-guard" does.
func (c checker) ReleaseGuard(ctx context.Context, id string) (bool, error) {
	p, _ := c.d.Pipeline()
	return p.ReleaseGuard(ctx, id)
}

func (c checker) LastReport(id string) *multidrop.Report {
	return c.d.lastReport(id)
}

// lastReport returns the account's last report from the current Pipeline,
// or from the ones a reload replaced.
func (d *Daemon) lastReport(id string) *multidrop.Report {
	d.mu.Lock()
	ps := append([]*multidrop.Pipeline{d.p}, d.retired...)
	d.mu.Unlock()
	for _, p := range ps {
		if r := p.LastReport(id); r != nil {
			return r
		}
	}
	return nil
}

// prober is the page's Test connection and Preview: the checks of
// "accounts test" and "accounts preview", over the current configuration
// (its user directory and local host name, as a reload left them). The
// POP sessions use the Pipeline's defaults, as its checks do.
type prober struct{ d *Daemon }

var _ admin.Prober = prober{}

func (p prober) Test(ctx context.Context, a account.Account) *probe.TestResult {
	return probe.Test(ctx, a, nil)
}

func (p prober) Preview(ctx context.Context, a account.Account) (*probe.PreviewResult, error) {
	return probe.Preview(ctx, a, p.d.previewOptions(probe.DefaultPreviewMessages))
}

// previewOptions are the options of a preview of at most max messages
// with the current user directory and local host name.
func (d *Daemon) previewOptions(max int) *probe.PreviewOptions {
	d.mu.Lock()
	dir, c := d.dir, d.cfg
	d.mu.Unlock()
	return &probe.PreviewOptions{Resolver: resolve.New(dir, nil), Max: max, LocalHost: c.Pipeline.LocalHost}
}

// requireAuth serves h only to requests with the configured credentials:
// HTTP basic authentication with admin.user and admin.password (plain
// text or a bcrypt hash), or
// "Authorization: Bearer" with admin.token. Comparisons take constant time.
func requireAuth(c AdminConfig, h http.Handler) http.Handler {
	digest := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	user, token := digest(c.User), digest(c.Token)
	pass := newPasswordChecker(c.Password)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Token != "" {
			if t, ok := cutScheme(r.Header.Get("Authorization"), "Bearer"); ok {
				got := digest(t)
				if subtle.ConstantTimeCompare(got[:], token[:]) == 1 {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		if c.Password != "" {
			if u, p, ok := r.BasicAuth(); ok {
				gu := digest(u)
				okUser := subtle.ConstantTimeCompare(gu[:], user[:]) == 1
				// The password is checked even for a wrong user, so the
				// time does not tell which was wrong.
				okPass := pass.Match(p)
				if okUser && okPass {
					h.ServeHTTP(w, r)
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="multidrop admin", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="multidrop admin"`)
		}
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

// cutScheme returns the credentials of an Authorization header value if
// its scheme is scheme; the scheme is matched without regard to case (RFC
// 9110, section 11.1) and the credentials are trimmed.
func cutScheme(v, scheme string) (string, bool) {
	v = strings.TrimLeft(v, " ")
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme)+1:]), true
}

// The admin server's limits: a client has adminReadHeaderTimeout to send
// its request header (at most adminMaxHeaderBytes), an idle keep-alive
// connection is closed after adminIdleTimeout. Bodies are bounded by the
// admin handler itself; no WriteTimeout, since Check Now and the metrics
// answer at their own pace.
const (
	adminReadHeaderTimeout = 10 * time.Second
	adminIdleTimeout       = 60 * time.Second
	adminMaxHeaderBytes    = 64 << 10
)

// newAdminServer returns the admin listener's server for h.
func newAdminServer(h http.Handler, errLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: adminReadHeaderTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          errLog,
	}
}
