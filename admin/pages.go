package admin

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
)

// pageData is what every template receives.
type pageData struct {
	Title      string
	Heading    string
	Error      string
	Token      string
	Prefix     string
	HasChecker bool

	// list page
	Rows    []row
	Domains []string
	Domain  string
	Checks  []checkResult

	// edit page
	Form   *formView
	Groups []group
	Report *ReportView

	// confirmation page
	Confirm []account.Account
}

type row struct {
	Account account.Account
	Report  *ReportView
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
		"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"join": strings.Join,
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

// listData fills the list page for domain.
func (h *Handler) listData(r *http.Request, domain string) (*pageData, error) {
	all, err := h.opt.Store.List(r.Context(), account.Filter{})
	if err != nil {
		return nil, err
	}
	accs := all
	if domain != "" {
		if accs, err = h.opt.Store.List(r.Context(), account.Filter{Domain: domain}); err != nil {
			return nil, err
		}
	}
	d := &pageData{Title: h.title, Domains: domainsOf(all), Domain: domain}
	for _, a := range accs {
		d.Rows = append(d.Rows, row{Account: a.Redacted(), Report: h.lastReport(a.ID)})
	}
	return d, nil
}

func (h *Handler) pageList(w http.ResponseWriter, r *http.Request) {
	d, err := h.listData(r, r.URL.Query().Get("domain"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
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

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, isNew bool) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	var old account.Account
	if !isNew {
		var err error
		if old, err = h.opt.Store.Get(r.Context(), r.PathValue("id")); err != nil {
			h.fail(w, r, 0, err)
			return
		}
	}
	a, errs := accountFromForm(r.PostForm, old)
	if isNew {
		a.ID = strings.TrimSpace(r.PostForm.Get("ID"))
		if a.ID != "" {
			if _, err := h.opt.Store.Get(r.Context(), a.ID); err == nil {
				errs["ID"] = append(errs["ID"], "an account with this ID exists")
			}
		}
	} else {
		keepSecrets(&a, old, r.PostForm.Get("clear:Auth.Secret") != "", r.PostForm.Get("clear:TLS.ClientKey") != "")
	}
	var stored account.Account
	var err error
	if len(errs) == 0 {
		stored, err = h.put(r.Context(), a, isNew)
		if err == nil {
			http.Redirect(w, r, h.url("/?saved=", url.QueryEscape(stored.ID)), http.StatusSeeOther)
			return
		}
		var ve *account.ValidationError
		if !errors.As(err, &ve) {
			h.fail(w, r, 0, err)
			return
		}
	}
	title := "Edit POP Account"
	if isNew {
		title = "New POP Account"
	}
	f := &formView{New: isNew, ID: a.ID, Values: formValues(r.PostForm), Errors: errs,
		SecretSet: a.Auth.Secret != "" && !isNew, KeySet: a.TLS.ClientKey != "" && !isNew}
	if isNew {
		f.Values["ID"] = a.ID
	}
	f.SecretRetype = r.PostForm.Get("Auth.Secret") != ""
	f.KeyRetype = r.PostForm.Get("TLS.ClientKey") != ""
	for _, fe := range fieldErrorsOf(err) {
		name, msg := placeError(formFields, fe)
		if name == "" {
			f.Other = append(f.Other, msg)
		} else {
			f.Errors[name] = append(f.Errors[name], msg)
		}
	}
	d := &pageData{Title: title, Form: f, Groups: groups, Error: "The account was not saved: correct the fields marked below."}
	if !isNew {
		d.Report = h.lastReport(a.ID)
	}
	h.render(w, r, http.StatusUnprocessableEntity, "edit", d)
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
		Form: &formView{ID: a.ID}, Rows: []row{{Account: a.Redacted()}}}
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

// submitCheck checks the selected accounts and shows the list page with
// their results on top.
func (h *Handler) submitCheck(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, 0, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	res, err := h.check(r.Context(), r.PostForm["id"])
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	d, err := h.listData(r, r.PostForm.Get("domain"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	d.Checks = res
	h.render(w, r, http.StatusOK, "list", d)
}
