package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// errNoChecker answers the check routes when Options.Checker is nil.
var errNoChecker = errors.New("admin: checks are not available (no Checker configured)")

// errNoIDs answers a batch request without any account ID.
var errNoIDs = errors.New("admin: no account selected")

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ay") {
		return itoa(n) + " " + word[:len(word)-1] + "ies"
	}
	return itoa(n) + " " + word + "s"
}

func itoa(n int) string { return strconv.Itoa(n) }

// status maps an error to its HTTP status and the message shown; internal
// errors are logged and shown without their details.
func (h *Handler) status(r *http.Request, err error) (int, string) {
	var ve *account.ValidationError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errCSRF), errors.Is(err, errCrossOrigin):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, account.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, account.ErrExists):
		return http.StatusConflict, err.Error()
	case errors.Is(err, account.ErrConflict):
		return http.StatusPreconditionFailed, err.Error()
	case errors.Is(err, multidrop.ErrAccountBusy), errors.Is(err, multidrop.ErrAccountDisabled):
		return http.StatusConflict, err.Error()
	case errors.Is(err, errNoChecker):
		return http.StatusNotImplemented, err.Error()
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "admin: request body too large"
	case errors.Is(err, errBadRequest), errors.Is(err, errNoIDs):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, err.Error()
	}
	h.opt.Logger.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "admin: internal error (see the server log)"
}

// errBadRequest marks a malformed request.
var errBadRequest = errors.New("admin: bad request")

// fail answers with an error: JSON for the API, an HTML page otherwise.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	msg := err.Error()
	if code == 0 {
		code, msg = h.status(r, err)
	}
	if isAPI(r) {
		writeJSON(w, code, ErrorResponse{Error: msg, Fields: fieldErrors(err)})
		return
	}
	h.render(w, r, code, "error", &pageData{Title: http.StatusText(code), Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// readJSON decodes the request body into v, strictly: a key that no
// field takes is refused with its path ("unknown key auth.secrte").
func readJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type must be application/json", errBadRequest)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	var uk *account.UnknownKeyError
	if err := account.CheckKeys(raw, v); errors.As(err, &uk) {
		return fmt.Errorf("%w: unknown key %s", errBadRequest, uk.Path)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON value", errBadRequest)
	}
	return nil
}

// AccountList is the body of GET /api/accounts.
type AccountList struct {
	Domain   string            `json:"domain,omitempty"`
	Accounts []account.Account `json:"accounts"`
}

// IDList is the body of the batch routes (delete, check).
type IDList struct {
	IDs []string `json:"ids"`
}

// CSRFToken is the body of GET /api/csrf.
type CSRFToken struct {
	Token  string `json:"token"`
	Header string `json:"header"`
}

func redactAll(accs []account.Account) []account.Account {
	out := make([]account.Account, len(accs))
	for i, a := range accs {
		out[i] = a.Redacted()
	}
	return out
}

func (h *Handler) apiCSRF(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, CSRFToken{Token: h.csrf.token(time.Now()), Header: CSRFHeader})
}

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	domain := r.URL.Query().Get("domain")
	accs, err := h.opt.Store.List(r.Context(), account.Filter{Domain: domain})
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, AccountList{Domain: domain, Accounts: redactAll(accs)})
}

func (h *Handler) apiGet(w http.ResponseWriter, r *http.Request) {
	a, err := h.opt.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	setETag(w, a)
	writeJSON(w, http.StatusOK, a.Redacted())
}

// etag is the entity tag of an account's stored version.
func etag(a account.Account) string { return `"v` + strconv.FormatInt(a.Version, 10) + `"` }

func setETag(w http.ResponseWriter, a account.Account) { w.Header().Set("ETag", etag(a)) }

// errPrecondition answers a PUT whose If-Match names another version.
var errPrecondition = errors.New("admin: the account was changed by someone else since it was read (If-Match does not match its ETag); read it again")

// ifMatch returns the version an If-Match header asks for: ok is false
// without the header or with "*"; a value that is no ETag of ours matches
// no version (-1).
func ifMatch(r *http.Request) (version int64, ok bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, false
	}
	for tag := range strings.SplitSeq(v, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(tag, `"v`), `"`), 10, 64); err == nil && strings.HasPrefix(tag, `"v`) {
			return n, true
		}
	}
	return -1, true
}

func (h *Handler) apiCreate(w http.ResponseWriter, r *http.Request) {
	var a account.Account
	if err := readJSON(r, &a); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	if isRedacted(a.Auth.Secret) || isRedacted(a.TLS.ClientKey) {
		h.fail(w, r, http.StatusUnprocessableEntity, account.ValidationErrors{{Field: "Auth.Secret", Reason: "a new account needs the secret itself, not " + account.RedactedSecret}})
		return
	}
	stored, err := h.put(r.Context(), a, true)
	if errors.Is(err, account.ErrExists) {
		h.fail(w, r, http.StatusConflict, fmt.Errorf("admin: account %s exists; update it with PUT", a.ID))
		return
	}
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	w.Header().Set("Location", h.url("/api/accounts/", stored.ID))
	setETag(w, stored)
	writeJSON(w, http.StatusCreated, stored.Redacted())
}

func (h *Handler) apiUpdate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var a account.Account
	if err := readJSON(r, &a); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	if a.ID != "" && a.ID != id {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("%w: body id %q differs from the path's %q", errBadRequest, a.ID, id))
		return
	}
	a.ID = id
	old, err := h.opt.Store.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	keepSecrets(&a, old, false, false)
	if v, ok := ifMatch(r); ok {
		if v != old.Version {
			h.fail(w, r, http.StatusPreconditionFailed, errPrecondition)
			return
		}
		a.Version = v
	} else if a.Version == 0 {
		a.Version = old.Version // no precondition: the last writer wins, but a deleted account stays deleted
	}
	stored, err := h.put(r.Context(), a, false)
	if errors.Is(err, account.ErrConflict) {
		h.fail(w, r, http.StatusPreconditionFailed, errPrecondition)
		return
	}
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	setETag(w, stored)
	writeJSON(w, http.StatusOK, stored.Redacted())
}

func (h *Handler) apiDeleteOne(w http.ResponseWriter, r *http.Request) {
	if err := h.delete(r.Context(), []string{r.PathValue("id")}); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) apiDelete(w http.ResponseWriter, r *http.Request) {
	var l IDList
	if err := readJSON(r, &l); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	if err := h.delete(r.Context(), l.IDs); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) apiCheckOne(w http.ResponseWriter, r *http.Request) {
	res, err := h.check(r.Context(), []string{r.PathValue("id")})
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	code := http.StatusOK
	if res[0].Report == nil {
		code, _ = h.status(r, res[0].err)
	}
	writeJSON(w, code, res[0])
}

func (h *Handler) apiCheck(w http.ResponseWriter, r *http.Request) {
	var l IDList
	if err := readJSON(r, &l); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	res, err := h.check(r.Context(), l.IDs)
	if err != nil {
		h.fail(w, r, 0, err)
		return
	}
	out := struct {
		Results []checkResult `json:"results"`
	}{res}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiReport(w http.ResponseWriter, r *http.Request) {
	if h.opt.Checker == nil {
		h.fail(w, r, 0, errNoChecker)
		return
	}
	id := r.PathValue("id")
	if _, err := h.opt.Store.Get(r.Context(), id); err != nil {
		h.fail(w, r, 0, err)
		return
	}
	rep := newReportView(h.opt.Checker.LastReport(id))
	if rep == nil {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("admin: account %s has not been checked yet", id))
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// put creates a (create-only) or updates it (compare-and-swap on
// a.Version) and logs the change.
func (h *Handler) put(ctx context.Context, a account.Account, isNew bool) (account.Account, error) {
	var stored account.Account
	var err error
	if isNew {
		stored, err = h.opt.Store.Create(ctx, a)
	} else {
		stored, err = h.opt.Store.Update(ctx, a)
	}
	if err != nil {
		return account.Account{}, err
	}
	msg := "admin: account updated"
	if isNew {
		msg = "admin: account created"
	}
	h.opt.Logger.Info(msg, slog.Any("account", stored))
	return stored, nil
}

func (h *Handler) delete(ctx context.Context, ids []string) error {
	ids = uniq(ids)
	if len(ids) == 0 {
		return errNoIDs
	}
	if err := h.opt.Store.Delete(ctx, ids...); err != nil {
		return err
	}
	h.opt.Logger.Info("admin: accounts deleted", "ids", ids)
	return nil
}

func uniq(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// checkResult is a CheckResult with its error kept for the status code.
type checkResult struct {
	CheckResult
	err  error
	once bool // the account was disabled and checked once (OnceChecker)
}

// check runs Check Now on ids, at most CheckConcurrency at once, and returns
// one result per ID in order. A failed check is a result, not an error.
func (h *Handler) check(ctx context.Context, ids []string) ([]checkResult, error) {
	if h.opt.Checker == nil {
		return nil, errNoChecker
	}
	ids = uniq(ids)
	if len(ids) == 0 {
		return nil, errNoIDs
	}
	ctx, cancel := context.WithTimeout(ctx, h.opt.CheckTimeout)
	defer cancel()
	out := make([]checkResult, len(ids))
	var g errgroup.Group
	g.SetLimit(h.opt.CheckConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			out[i] = h.checkOne(ctx, id)
			return nil
		})
	}
	_ = g.Wait()
	return out, nil
}

// checkOne runs Checker.Check on id and logs the outcome.
func (h *Handler) checkOne(ctx context.Context, id string) checkResult {
	rep, err := h.opt.Checker.Check(ctx, id)
	once := false
	if oc, ok := h.opt.Checker.(OnceChecker); ok && errors.Is(err, multidrop.ErrAccountDisabled) {
		rep, err = oc.CheckOnce(ctx, id)
		once = true
	}
	res := checkResult{CheckResult: CheckResult{ID: id, Report: newReportView(rep)}, err: err, once: once}
	if err != nil {
		res.Error = err.Error()
		res.Problem = sentence(err)
	}
	if rep != nil {
		h.opt.Logger.Info("admin: checked", "account", id, "listed", rep.Listed,
			"delivered", rep.Delivered, "committed", rep.Committed, "err", err)
	} else {
		h.opt.Logger.Warn("admin: check refused", "account", id, "err", err)
	}
	return res
}

func isRedacted(s string) bool { return s == account.RedactedSecret }

// keepSecrets carries the stored secrets of old into a where the request
// left them empty or sent back the redaction marker, since the page and the
// API never reveal them. clearSecret and clearKey remove them instead.
// Without a client certificate the stored client key is dropped too.
func keepSecrets(a *account.Account, old account.Account, clearSecret, clearKey bool) {
	keepProxyPassword(a, old)
	switch {
	case clearSecret:
		a.Auth.Secret = ""
	case a.Auth.Secret == "" || isRedacted(a.Auth.Secret):
		a.Auth.Secret = old.Auth.Secret
	}
	switch {
	case clearKey || a.TLS.ClientCert == "":
		if a.TLS.ClientCert == "" && !isRedacted(a.TLS.ClientKey) && a.TLS.ClientKey != "" {
			break // a key without a certificate: let Validate say so
		}
		a.TLS.ClientKey = ""
	case a.TLS.ClientKey == "" || isRedacted(a.TLS.ClientKey):
		a.TLS.ClientKey = old.TLS.ClientKey
	}
}
