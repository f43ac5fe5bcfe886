package admin

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// Checker runs checks and remembers their reports. *multidrop.Pipeline
// satisfies it.
type Checker interface {
	// Check checks one account now and returns its report; see
	// [multidrop.Pipeline.Check].
	Check(ctx context.Context, id string) (*multidrop.Report, error)
	// LastReport returns the report of the account's last finished check,
	// or nil.
	LastReport(id string) *multidrop.Report
}

var _ Checker = (*multidrop.Pipeline)(nil)

// Options configure a Handler. The zero value of each field is documented;
// Store is required.
type Options struct {
	// Store holds the accounts the page lists and edits. Required.
	Store account.MutableStore

	// Checker runs Check Now and provides each account's last report. Nil
	// hides Check Now and the reports (the check routes answer 501).
	Checker Checker

	// History holds the records of the last checks of each account, shown
	// on the account's history page; nil means no history page. Feed it
	// with [HistoryRecorder] from the Pipeline's Observer.
	History account.History

	// Prefix is the path the handler is mounted under, such as "/admin",
	// without a trailing slash; "" means the root. The handler expects
	// request paths with the prefix already removed, as [http.StripPrefix]
	// does, and uses Prefix to build links and redirects:
	//
	//	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	Prefix string

	// Title is the heading of the list page; "" means "Remote POP Accounts".
	Title string

	// CheckTimeout bounds a Check Now request; 0 means 5 minutes.
	CheckTimeout time.Duration

	// Prober runs Test connection and Preview on the values of the Edit
	// POP Account form, without saving them; nil hides both buttons (their
	// routes answer 501). [Probe] runs the probe package with fixed
	// options; Preview needs the Pipeline's Resolver.
	Prober Prober

	// ProbeTimeout bounds a Test connection or a Preview; 0 means 2
	// minutes.
	ProbeTimeout time.Duration

	// CheckConcurrency is how many of the selected accounts Check Now checks
	// at once; 0 means 4.
	CheckConcurrency int

	// CSRFKey is the key of the anti-CSRF tokens (at least 32 bytes). Nil
	// means a random key per Handler, so tokens do not survive a restart;
	// set it when several instances serve the same users.
	CSRFKey []byte

	// TrustedOrigins are further origins ("https://panel.example.com")
	// allowed to send state-changing requests, for a page served behind a
	// proxy that changes the Host; see [http.CrossOriginProtection].
	TrustedOrigins []string

	// Logger receives one line per change and per check; nil means
	// [slog.Default]. Accounts are logged by their identifying fields only.
	Logger *slog.Logger
}

// Handler serves the Remote POP Accounts page and its JSON API. It is safe
// for concurrent use. Create it with [New].
type Handler struct {
	opt   Options
	mux   *http.ServeMux
	top   http.Handler
	tmpl  *template.Template
	csrf  *csrfKey
	title string
	bg    *checks
}

var _ http.Handler = (*Handler)(nil)

//go:embed assets templates
var files embed.FS

// ErrNoStore is returned by New when Options.Store is nil.
var ErrNoStore = errors.New("admin: Options.Store is nil")

// New returns a Handler over opt.Store and opt.Checker.
func New(opt *Options) (*Handler, error) {
	if opt == nil || opt.Store == nil {
		return nil, ErrNoStore
	}
	o := *opt
	o.TrustedOrigins = append([]string(nil), opt.TrustedOrigins...)
	o.Prefix = strings.TrimRight(o.Prefix, "/")
	if o.Prefix != "" && !strings.HasPrefix(o.Prefix, "/") {
		return nil, errors.New("admin: Options.Prefix must start with /")
	}
	if o.Title == "" {
		o.Title = "Remote POP Accounts"
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Minute
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 2 * time.Minute
	}
	if o.CheckConcurrency <= 0 {
		o.CheckConcurrency = 4
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	key := opt.CSRFKey
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
	} else if len(key) < 32 {
		return nil, errors.New("admin: Options.CSRFKey is shorter than 32 bytes")
	}
	o.CSRFKey = nil
	h := &Handler{opt: o, csrf: newCSRFKey(key), title: o.Title, bg: newChecks()}

	t, err := parseTemplates(h)
	if err != nil {
		return nil, err
	}
	h.tmpl = t

	cop := http.NewCrossOriginProtection()
	for _, origin := range o.TrustedOrigins {
		if err := cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("admin: trusted origin: %w", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(h.denyCrossOrigin))

	h.mux = http.NewServeMux()
	h.routes()
	h.top = cop.Handler(http.HandlerFunc(h.serve))
	return h, nil
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.top.ServeHTTP(w, r)
}

func (h *Handler) routes() {
	static, _ := fs.Sub(files, "assets")
	h.mux.Handle("GET /static/", http.StripPrefix("/static", http.FileServerFS(static)))

	h.mux.HandleFunc("GET /{$}", h.pageList)
	h.mux.HandleFunc("GET /new", h.pageNew)
	h.mux.HandleFunc("POST /new", h.submitNew)
	h.mux.HandleFunc("GET /edit/{id}", h.pageEdit)
	h.mux.HandleFunc("POST /edit/{id}", h.submitEdit)
	h.mux.HandleFunc("POST /new/test", h.probeRoute(true, "test"))
	h.mux.HandleFunc("POST /new/preview", h.probeRoute(true, "preview"))
	h.mux.HandleFunc("POST /edit/{id}/test", h.probeRoute(false, "test"))
	h.mux.HandleFunc("POST /edit/{id}/preview", h.probeRoute(false, "preview"))
	h.mux.HandleFunc("GET /report/{id}", h.pageReport)
	h.mux.HandleFunc("POST /delete", h.submitDelete)
	h.mux.HandleFunc("POST /check", h.submitCheck)
	h.mux.HandleFunc("POST /resume", h.submitResume)
	h.mux.HandleFunc("POST /release-guard", h.submitReleaseGuard)
	h.mux.HandleFunc("GET /history/{id}", h.pageHistory)

	h.mux.HandleFunc("GET /api/csrf", h.apiCSRF)
	h.mux.HandleFunc("GET /api/accounts", h.apiList)
	h.mux.HandleFunc("POST /api/accounts", h.apiCreate)
	h.mux.HandleFunc("GET /api/accounts/{id}", h.apiGet)
	h.mux.HandleFunc("PUT /api/accounts/{id}", h.apiUpdate)
	h.mux.HandleFunc("DELETE /api/accounts/{id}", h.apiDeleteOne)
	h.mux.HandleFunc("POST /api/accounts/delete", h.apiDelete)
	h.mux.HandleFunc("POST /api/accounts/check", h.apiCheck)
	h.mux.HandleFunc("POST /api/accounts/{id}/check", h.apiCheckOne)
	h.mux.HandleFunc("GET /api/accounts/{id}/report", h.apiReport)
	h.mux.HandleFunc("POST /api/accounts/{id}/release-guard", h.apiReleaseGuard)
}

// serve sets the security headers, checks the anti-CSRF token of every
// state-changing request and dispatches.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		hd.Set("Cache-Control", "no-store")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if !h.csrf.valid(h.requestToken(r), time.Now()) {
			h.fail(w, r, http.StatusForbidden, errCSRF)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// maxBody bounds a request body.
const maxBody = 1 << 20

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func (h *Handler) url(parts ...string) string {
	return h.opt.Prefix + strings.Join(parts, "")
}
