package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
)

// pageData is what every template receives.
type pageData struct {
	Title      string
	Heading    string
	Error      string
	Notice     string // what an action did, on the page it came back to
	Token      string
	Prefix     string
	HasChecker bool
	CanRelease bool // the Checker is a GuardKeeper: Release guard

	// list page
	Rows     []row
	Domains  []string
	Domain   string
	Search   string
	Total    int // accounts in the store
	Matched  int // accounts of the domain matching the search
	PageNo   int
	Pages    int
	Here     string // the list's query string, to come back to
	FirstURL string
	PrevURL  string
	NextURL  string
	LastURL  string
	Refresh  bool // a check is running: reload the page shortly

	// edit page
	Form     *formView
	Groups   []group
	Report   *ReportView
	Probe    *probeView // the result of Test connection or Preview
	CanProbe bool

	// history page
	History    []historyEntry
	HasHistory bool

	// confirmation page
	Confirm []account.Account
}

// fieldsView is what the "fields" template gets: the form and a group.
type fieldsView struct {
	Form  *formView
	Group group
}

type row struct {
	Account   account.Account
	Report    *ReportView
	Checking  bool
	Refused   *checkResult // the last Check Now could not run
	Next      time.Time
	State     state
	CanResume bool
	// Guard is set while the deletion guard holds the account; with it
	// the row offers Release guard.
	Guard *GuardView
	Now   time.Time
	// NextLogin, when after Now, is the earliest next login the server
	// allows (its LOGIN-DELAY), from the newest recorded check.
	NextLogin time.Time
}

func parseTemplates(h *Handler) (*template.Template, error) {
	funcs := template.FuncMap{
		"url": func(parts ...string) string { return h.url(parts...) },
		"q":   url.QueryEscape,
		"kind": func(k kind) string {
			return [...]string{"text", "number", "duration", "check", "select", "lines", "pem", "secret", "secretpem"}[k]
		},
		"errs": func(f *formView, name string) []string { return f.Errors[name] },
		"val":  func(f *formView, name string) string { return f.Values[name] },
		"bytes": func(n int64) string {
			switch {
			case n >= 1<<20:
				return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
			case n >= 1<<10:
				return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
			}
			return fmt.Sprintf("%d B", n)
		},
		"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"join":     strings.Join,
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"fieldsOf": func(f *formView, g group) fieldsView { return fieldsView{Form: f, Group: g} },
		"slug":     func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "-")) },
		"groupHasErrors": func(f *formView, g group) bool {
			for _, fl := range g.Fields {
				if f.has(fl.Name) {
					return true
				}
			}
			return false
		},
		"secretSet": func(f *formView, name string) bool {
			if name == "ProxyPassword" {
				return f.ProxySet
			}
			return f.SecretSet
		},
		"ago": ago,
	}
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		return nil, err
	}
	return template.New("").Funcs(funcs).ParseFS(sub, "*.html")
}

// render executes a template into a buffer first, so that a template error
// is a clean 500 and not half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, d *pageData) {
	d.Token = h.csrf.token(time.Now())
	d.Prefix = h.opt.Prefix
	d.HasChecker = h.opt.Checker != nil
	d.CanRelease = h.guardKeeper() != nil
	d.HasHistory = h.opt.History != nil
	d.CanProbe = h.opt.Prober != nil
	if d.Heading == "" {
		d.Heading = d.Title
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name+".html", d); err != nil {
		h.opt.Logger.Error("admin: template", "name", name, "err", err)
		http.Error(w, "admin: internal error (see the server log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) lastReport(id string) *ReportView {
	if h.opt.Checker == nil {
		return nil
	}
	return newReportView(h.opt.Checker.LastReport(id))
}

// PageSize is how many accounts the list shows a page.
const PageSize = 50

// listQuery is what the list shows: a domain, a search, a page.
type listQuery struct {
	Domain string
	Search string
	Page   int // from 1
}

func queryOf(v url.Values) listQuery {
	q := listQuery{Domain: v.Get("domain"), Search: strings.TrimSpace(v.Get("q"))}
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Page = max(q.Page, 1)
	return q
}

// encode returns the query string of q on page n (0: q's page).
func (q listQuery) encode(n int) string {
	v := url.Values{}
	if q.Domain != "" {
		v.Set("domain", q.Domain)
	}
	if q.Search != "" {
		v.Set("q", q.Search)
	}
	if n == 0 {
		n = q.Page
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// matches reports whether a matches the search words: each word must occur,
// without regard to case, in the ID, description, host, a domain or the
// user name.
func matches(a *account.Account, words []string) bool {
	if len(words) == 0 {
		return true
	}
	hay := strings.ToLower(strings.Join(append([]string{a.ID, a.Description, a.Host, a.Domain, a.Auth.User}, a.ExtraDomains...), "\x00"))
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// listData fills the list page: the store's accounts (one domain's, or
// all), those matching the search, and of those one page. Only the rows of
// the page are converted and looked up in the checker (and have their
// newest history record and guard state read), so a list of 10,000
// accounts costs one List, a filter in memory, and the reads of one page.
func (h *Handler) listData(r *http.Request, q listQuery) (*pageData, error) {
	all, err := h.opt.Store.List(r.Context(), account.Filter{})
	if err != nil {
		return nil, err
	}
	d := &pageData{Title: h.title, Domains: domainsOf(all), Domain: q.Domain, Search: q.Search, Total: len(all)}
	// The domain and the search filter the one List in memory.
	words := strings.Fields(strings.ToLower(q.Search))
	accs := all
	if q.Domain != "" || len(words) > 0 {
		domain, err := account.NormalizeDomain(q.Domain)
		if err != nil {
			domain = "\x00" // not a domain: matches none, as the store's filter
		}
		accs = nil
		for i := range all {
			if (q.Domain == "" || slices.Contains(all[i].Domains(), domain)) && matches(&all[i], words) {
				accs = append(accs, all[i])
			}
		}
	}
	d.Matched = len(accs)
	d.Pages = max((len(accs)+PageSize-1)/PageSize, 1)
	q.Page = min(q.Page, d.Pages)
	d.PageNo = q.Page
	lo := (q.Page - 1) * PageSize
	hi := min(lo+PageSize, len(accs))
	if q.Page > 1 {
		d.PrevURL = h.url("/", q.encode(q.Page-1))
		d.FirstURL = h.url("/", q.encode(1))
	}
	if q.Page < d.Pages {
		d.NextURL = h.url("/", q.encode(q.Page+1))
		d.LastURL = h.url("/", q.encode(d.Pages))
	}
	d.Here = q.encode(0)
	now := time.Now()
	for _, a := range accs[lo:hi] {
		d.Rows = append(d.Rows, h.rowOf(r.Context(), a.Redacted(), now))
	}
	return d, nil
}

// rowOf is one account's row: its last outcome and its state.
func (h *Handler) rowOf(ctx context.Context, a account.Account, now time.Time) row {
	rw := row{Account: a, Now: now, NextLogin: h.nextLogin(ctx, a.ID, now)}
	if h.opt.Checker == nil {
		rw.State = stateOf(a, Status{})
		return rw
	}
	rw.Report = h.lastReport(a.ID)
	if o := h.bg.onceReport(a.ID); o != nil && (rw.Report == nil || o.Start.After(rw.Report.Start)) {
		rw.Report = o
	}
	rw.Checking, rw.Refused = h.bg.state(a.ID)
	var st Status
	if src, ok := h.opt.Checker.(StatusSource); ok {
		st = src.Status(a.ID)
	}
	rw.Next = st.Next
	rw.Guard = h.guardOf(ctx, a.ID)
	rw.State = stateOf(a, st)
	if rw.Guard != nil {
		rw.State = state{Word: "deletion guard holds it", Reason: rw.Guard.Reason()}
	}
	_, rw.CanResume = h.opt.Checker.(Resumer)
	rw.CanResume = rw.CanResume && st.Paused != ""
	return rw
}

// nextLogin returns the earliest next login the server allows to account
// id, as the newest record of the History says, when it is after now; the
// zero time otherwise (or without a History, or when it cannot be read).
func (h *Handler) nextLogin(ctx context.Context, id string, now time.Time) time.Time {
	if h.opt.History == nil {
		return time.Time{}
	}
	recs, err := h.opt.History.Checks(ctx, id, 1)
	if err != nil || len(recs) == 0 || !recs[0].NextLogin.After(now) {
		return time.Time{}
	}
	return recs[0].NextLogin
}

// state is the State column: a word and, for paused and backing off, why.
type state struct {
	Word   string // enabled, disabled, paused, backing off
	Reason string
}

// Class is the word as a CSS class name.
func (s state) Class() string { return "state-" + strings.ReplaceAll(s.Word, " ", "-") }

func stateOf(a account.Account, st Status) state {
	switch {
	case !a.Enabled:
		return state{Word: "disabled"}
	case st.Paused != "":
		return state{Word: "paused", Reason: st.Paused}
	case st.Backoff != "":
		return state{Word: "backing off", Reason: st.Backoff}
	}
	return state{Word: "enabled"}
}

func (h *Handler) pageList(w http.ResponseWriter, r *http.Request) {
	d, err := h.listData(r, queryOf(r.URL.Query()))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	for _, rw := range d.Rows {
		if rw.Checking {
			d.Refresh = true // until the checks end; a reload is a GET and checks nothing
		}
	}
	d.Notice = guardNotice(r.URL.Query())
	h.render(w, r, http.StatusOK, "list", d)
}

func (h *Handler) pageNew(w http.ResponseWriter, r *http.Request) {
	a := account.Account{Enabled: true, Security: account.SecurityTLS}
	if d := r.URL.Query().Get("domain"); d != "" {
		a.Domain = d
	}
	h.render(w, r, http.StatusOK, "edit", &pageData{Title: "New POP Account", Form: newFormView(a, true), Groups: groups})
}

func (h *Handler) pageEdit(w http.ResponseWriter, r *http.Request) {
	a, err := h.opt.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	h.render(w, r, http.StatusOK, "edit", &pageData{Title: "Edit POP Account", Form: newFormView(a, false),
		Groups: groups, Report: h.lastReport(a.ID)})
}

func (h *Handler) submitNew(w http.ResponseWriter, r *http.Request) {
	h.submit(w, r, true)
}

func (h *Handler) submitEdit(w http.ResponseWriter, r *http.Request) {
	h.submit(w, r, false)
}

// submission is a submitted Edit POP Account form, made into an account
// as Save makes it.
type submission struct {
	isNew bool
	form  url.Values
	old   account.Account // the stored account (zero for a new one)
	a     account.Account
	errs  map[string][]string // the form's own errors, by field
	verr  error               // a validation error of the account
}

// readForm parses the form of r and builds its account from the stored
// one: a new account takes the ID field; an edited one keeps the stored
// secrets whose fields are empty (unless "remove" is ticked) and carries
// the form's Version. It answers the request itself when it fails.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request, isNew bool) (*submission, bool) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return nil, false
	}
	s := &submission{isNew: isNew, form: r.PostForm}
	if !isNew {
		var err error
		if s.old, err = h.opt.Store.Get(r.Context(), r.PathValue("id")); err != nil {
			h.fail(w, r, 0, err)
			return nil, false
		}
	}
	s.a, s.errs = accountFromForm(r.PostForm, s.old)
	if isNew {
		s.a.ID = strings.TrimSpace(r.PostForm.Get("ID"))
	} else {
		keepSecrets(&s.a, s.old, r.PostForm.Get("clear:Auth.Secret") != "", r.PostForm.Get("clear:TLS.ClientKey") != "")
		s.a.Version = s.old.Version // a form of an older release has no Version
		if v, ok := r.PostForm["Version"]; ok {
			s.a.Version, _ = strconv.ParseInt(v[0], 10, 64)
		}
	}
	return s, true
}

// formPage is the Edit POP Account screen showing s again: its values
// without the secrets, and its errors next to their fields.
func (h *Handler) formPage(r *http.Request, s *submission) *pageData {
	a, isNew := s.a, s.isNew
	title := "Edit POP Account"
	if isNew {
		title = "New POP Account"
	}
	f := &formView{New: isNew, ID: a.ID, Values: formValues(s.form), Errors: s.errs,
		SecretSet: a.Auth.Secret != "" && !isNew, KeySet: a.TLS.ClientKey != "" && !isNew, Version: a.Version}
	if pw := s.old.ProxyPassword(); pw != "" && !isNew {
		f.ProxySet = true
	}
	if isNew {
		f.Values["ID"] = a.ID
	}
	f.SecretRetype = s.form.Get("Auth.Secret") != ""
	f.KeyRetype = s.form.Get("TLS.ClientKey") != ""
	for _, fe := range fieldErrorsOf(s.verr) {
		name, msg := placeError(formFields, fe)
		if name == "" {
			f.Other = append(f.Other, msg)
		} else {
			f.Errors[name] = append(f.Errors[name], msg)
		}
	}
	d := &pageData{Title: title, Form: f, Groups: groups}
	if !isNew {
		d.Report = h.lastReport(a.ID)
	}
	return d
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, isNew bool) {
	s, ok := h.readForm(w, r, isNew)
	if !ok {
		return
	}
	a := s.a
	conflict := false
	if len(s.errs) == 0 {
		stored, err := h.put(r.Context(), a, isNew)
		switch {
		case err == nil:
			http.Redirect(w, r, h.url("/?saved=", url.QueryEscape(stored.ID)), http.StatusSeeOther)
			return
		case errors.Is(err, account.ErrExists):
			s.errs["ID"] = append(s.errs["ID"], "an account with this ID exists")
		case errors.Is(err, account.ErrConflict):
			conflict = true
		default:
			var ve *account.ValidationError
			if !errors.As(err, &ve) {
				h.fail(w, r, 0, err)
				return
			}
			s.verr = err
		}
	}
	d := h.formPage(r, s)
	d.Error = "The account was not saved: correct the fields marked below."
	code := http.StatusUnprocessableEntity
	if conflict {
		// Someone saved the account after this form was opened: show
		// this form again with their version, so that Save replaces their
		// change only when the admin means to.
		cur, gerr := h.opt.Store.Get(r.Context(), a.ID)
		if gerr != nil {
			h.fail(w, r, 0, gerr)
			return
		}
		d.Form.Conflict, d.Form.Version = true, cur.Version
		code = http.StatusConflict
		d.Error = "Someone else changed this account after you opened it, so it was not saved. " +
			"Your changes are below; the current settings are on the account's page (open it in a new tab to compare). Save again to replace their change with yours."
	}
	h.render(w, r, code, "edit", d)
}

func fieldErrorsOf(err error) []*account.ValidationError {
	if err == nil {
		return nil
	}
	var ves account.ValidationErrors
	if errors.As(err, &ves) {
		return ves
	}
	var ve *account.ValidationError
	if errors.As(err, &ve) {
		return []*account.ValidationError{ve}
	}
	return nil
}

func (h *Handler) pageReport(w http.ResponseWriter, r *http.Request) {
	if h.opt.Checker == nil {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	a, err := h.opt.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	d := &pageData{Title: "Last check of " + a.ID, Report: h.lastReport(a.ID),
		Form: &formView{ID: a.ID}, Rows: []row{{Account: a.Redacted()}}, Notice: guardNotice(r.URL.Query())}
	if d.Report != nil {
		d.Rows[0].Guard = d.Report.Guard
	}
	if h.guardKeeper() != nil {
		// The guard as it is now: the report may predate a release.
		d.Rows[0].Guard = h.guardOf(r.Context(), a.ID)
	}
	h.render(w, r, http.StatusOK, "report", d)
}

// submitDelete deletes the selected accounts once confirmed (the page's
// script asks and sets confirmed=yes); without confirmation it shows a
// confirmation page.
func (h *Handler) submitDelete(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	ids := uniq(r.PostForm["id"])
	if len(ids) == 0 {
		h.fail(w, r, 0, errNoIDs)
		return
	}
	if r.PostForm.Get("confirmed") != "yes" {
		d := &pageData{Title: "Delete POP accounts", Domain: r.PostForm.Get("domain")}
		for _, id := range ids {
			a, err := h.opt.Store.Get(r.Context(), id)
			if err != nil {
				h.fail(w, r, 0, err)
				return
			}
			d.Confirm = append(d.Confirm, a.Redacted())
		}
		h.render(w, r, http.StatusOK, "confirm", d)
		return
	}
	if err := h.delete(r.Context(), ids); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	http.Redirect(w, r, h.url("/?domain=", url.QueryEscape(r.PostForm.Get("domain"))), http.StatusSeeOther)
}

// submitCheck starts Check Now on the selected accounts in the background
// and sends the browser back to the list (303), where their rows show
// "checking..." and then the outcome; reloading the list checks nothing.
func (h *Handler) submitCheck(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if h.opt.Checker == nil {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	ids := uniq(r.PostForm["id"])
	if len(ids) == 0 {
		h.fail(w, r, 0, errNoIDs)
		return
	}
	for _, id := range ids {
		h.bg.start(id, h.opt.CheckTimeout, h.checkOne)
	}
	http.Redirect(w, r, h.url("/", r.PostForm.Get("back")), http.StatusSeeOther)
}

// submitResume resumes the selected paused accounts and goes back to the
// list.
func (h *Handler) submitResume(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	res, ok := h.opt.Checker.(Resumer)
	if !ok {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	ids := uniq(r.PostForm["id"])
	if len(ids) == 0 {
		h.fail(w, r, 0, errNoIDs)
		return
	}
	for _, id := range ids {
		ok := res.Resume(id)
		h.opt.Logger.Info("admin: resume", "account", id, "scheduled", ok)
	}
	http.Redirect(w, r, h.url("/", r.PostForm.Get("back")), http.StatusSeeOther)
}

// ago says how far t is from now in words: "3 minutes ago", "in 2 hours".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 10*time.Second:
		if future {
			return "now"
		}
		return "just now"
	case d < time.Minute:
		s = plural(int(d/time.Second), "second")
	case d < time.Hour-30*time.Second:
		s = plural(int((d+30*time.Second)/time.Minute), "minute")
	case d < 48*time.Hour-30*time.Minute:
		s = plural(int((d+30*time.Minute)/time.Hour), "hour")
	default:
		s = plural(int((d+12*time.Hour)/(24*time.Hour)), "day")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
