package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

func TestNewRefusesBadOptions(t *testing.T) {
	store := account.NewMemoryStore()
	tests := []struct {
		name string
		opt  *Options
		want string
	}{
		{"nil", nil, "Store is nil"},
		{"no store", &Options{}, "Store is nil"},
		{"short key", &Options{Store: store, CSRFKey: []byte("short")}, "shorter than 32"},
		{"relative prefix", &Options{Store: store, Prefix: "admin"}, "must start with /"},
		{"bad origin", &Options{Store: store, TrustedOrigins: []string{"not a url"}}, "trusted origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(tt.opt)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	h, err := New(&Options{Store: store, Prefix: "/admin/"})
	require.NoError(t, err)
	assert.Equal(t, "/admin", h.opt.Prefix, "trailing slash trimmed")
}

func TestAPIAccounts(t *testing.T) {
	e := newEnv(t, nil, nil)

	// Create: 201, Location, the secret redacted.
	a := e.account("", "example.com")
	w := e.api(http.MethodPost, "/api/accounts", a)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var created account.Account
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
	require.NotEmpty(t, created.ID)
	assert.Equal(t, "/api/accounts/"+created.ID, w.Header().Get("Location"))
	assert.Equal(t, account.RedactedSecret, created.Auth.Secret)
	assert.NotContains(t, w.Body.String(), popPass)

	// Creating the same ID again is a conflict.
	a.ID = created.ID
	w = e.api(http.MethodPost, "/api/accounts", a)
	assert.Equal(t, http.StatusConflict, w.Code)
	// A new account with the redaction marker as its secret is refused.
	b := e.account("b", "example.net")
	b.Auth.Secret = account.RedactedSecret
	w = e.api(http.MethodPost, "/api/accounts", b)
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)

	e.put(e.account("c", "example.net"))
	e.put(e.account("d", "example.net"))

	// List, all and by domain.
	var list AccountList
	e.getJSON("/api/accounts", http.StatusOK, &list)
	assert.Len(t, list.Accounts, 3)
	e.getJSON("/api/accounts?domain=EXAMPLE.net", http.StatusOK, &list)
	require.Len(t, list.Accounts, 2)
	assert.Equal(t, "c", list.Accounts[0].ID)
	for _, acc := range list.Accounts {
		assert.Equal(t, account.RedactedSecret, acc.Auth.Secret)
	}

	// Get.
	var got account.Account
	e.getJSON("/api/accounts/c", http.StatusOK, &got)
	assert.Equal(t, "mailbox c", got.Description)
	assert.Equal(t, account.RedactedSecret, got.Auth.Secret)
	e.getJSON("/api/accounts/nope", http.StatusNotFound, nil)

	// Update what GET returned: the stored secret is kept.
	got.Description = "changed"
	w = e.api(http.MethodPut, "/api/accounts/c", got)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	// got is now stale: the body's version is a precondition too.
	assert.Equal(t, http.StatusPreconditionFailed, e.api(http.MethodPut, "/api/accounts/c", got).Code)
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	stored, err := e.store.Get(t.Context(), "c")
	require.NoError(t, err)
	assert.Equal(t, "changed", stored.Description)
	assert.Equal(t, popPass, stored.Auth.Secret)
	// A new secret replaces it.
	got.Auth.Secret = "new-secret"
	got.Version = 0 // no precondition: the last writer wins
	require.Equal(t, http.StatusOK, e.api(http.MethodPut, "/api/accounts/c", got).Code)
	stored, _ = e.store.Get(t.Context(), "c")
	assert.Equal(t, "new-secret", stored.Auth.Secret)
	// The body's ID must match the path's; unknown accounts are 404.
	got.ID = "d"
	assert.Equal(t, http.StatusBadRequest, e.api(http.MethodPut, "/api/accounts/c", got).Code)
	got.ID = ""
	assert.Equal(t, http.StatusNotFound, e.api(http.MethodPut, "/api/accounts/nope", got).Code)

	// Delete one, then several.
	assert.Equal(t, http.StatusNoContent, e.api(http.MethodDelete, "/api/accounts/c", nil).Code)
	e.getJSON("/api/accounts/c", http.StatusNotFound, nil)
	w = e.api(http.MethodPost, "/api/accounts/delete", IDList{IDs: []string{created.ID, "d", "d"}})
	assert.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	e.getJSON("/api/accounts", http.StatusOK, &list)
	assert.Empty(t, list.Accounts)
	assert.Equal(t, http.StatusBadRequest, e.api(http.MethodPost, "/api/accounts/delete", IDList{}).Code)

	assert.NotContains(t, e.log.String(), popPass)
	assert.NotContains(t, e.log.String(), "new-secret")
}

func TestAPIBadRequests(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.put(e.account("a", "example.com"))
	tests := []struct {
		name, method, path, ctype, body string
		code                            int
	}{
		{"not json", http.MethodPost, "/api/accounts", "application/json", "{", http.StatusBadRequest},
		{"unknown field", http.MethodPost, "/api/accounts", "application/json", `{"hostname":"x"}`, http.StatusBadRequest},
		{"form content type", http.MethodPost, "/api/accounts", "text/plain", `{}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "/api/accounts", "application/json", `{"description":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"wrong method", http.MethodPatch, "/api/accounts/a", "application/json", `{}`, http.StatusMethodNotAllowed},
		{"unknown route", http.MethodGet, "/api/nothing", "", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			r.Header.Set(CSRFHeader, e.token())
			w := e.do(r)
			assert.Equal(t, tt.code, w.Code, w.Body.String())
			if tt.code != http.StatusMethodNotAllowed && tt.code != http.StatusNotFound {
				var er ErrorResponse
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &er))
				assert.NotEmpty(t, er.Error)
			}
		})
	}
}

func TestAPICheckAndReport(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <m1@x>", "From: x@remote.test", "To: alice@example.com, Bob <bob@example.com>", "Subject: one")},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <m2@x>", "From: x@remote.test", "To: nobody@example.com", "Subject: two")},
	)
	e := newEnv(t, srv, nil)
	e.put(e.account("a", "example.com"))
	off := e.account("off", "example.com")
	off.Enabled = false
	e.put(off)

	// No report before the first check.
	e.getJSON("/api/accounts/a/report", http.StatusNotFound, nil)
	e.getJSON("/api/accounts/nope/report", http.StatusNotFound, nil)

	w := e.api(http.MethodPost, "/api/accounts/a/check", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var res CheckResult
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
	require.NotNil(t, res.Report)
	assert.Empty(t, res.Error)
	assert.Equal(t, 2, res.Report.Listed)
	assert.Equal(t, 2, res.Report.Delivered)
	assert.Equal(t, 1, res.Report.Dropped)
	assert.True(t, res.Report.Committed)
	require.Len(t, res.Report.Messages, 2)
	m := res.Report.Messages[0]
	assert.Equal(t, "delete", m.Action)
	assert.Equal(t, []string{"alice@example.com", "bob@example.com"}, m.Recipients)
	assert.Contains(t, m.Explanation, "alice@example.com")
	require.Len(t, m.Results, 2)
	assert.Equal(t, "delivered", m.Results[0].Status)
	m2 := res.Report.Messages[1]
	assert.Empty(t, m2.Recipients)
	require.NotEmpty(t, m2.Rejected)
	assert.Equal(t, "nobody@example.com", m2.Rejected[0].Address)

	var rep ReportView
	e.getJSON("/api/accounts/a/report", http.StatusOK, &rep)
	assert.Equal(t, *res.Report, rep)

	// Several at once: a disabled and an unknown account are results too.
	w = e.api(http.MethodPost, "/api/accounts/check", IDList{IDs: []string{"a", "off", "nope"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var batch struct{ Results []CheckResult }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &batch))
	require.Len(t, batch.Results, 3)
	assert.Equal(t, "a", batch.Results[0].ID)
	assert.NotNil(t, batch.Results[0].Report)
	assert.Contains(t, batch.Results[1].Error, "disabled")
	assert.Nil(t, batch.Results[1].Report)
	assert.Contains(t, batch.Results[2].Error, "not found")

	// One disabled account alone: 409.
	assert.Equal(t, http.StatusConflict, e.api(http.MethodPost, "/api/accounts/off/check", nil).Code)
	assert.Equal(t, http.StatusNotFound, e.api(http.MethodPost, "/api/accounts/nope/check", nil).Code)
	assert.Equal(t, http.StatusBadRequest, e.api(http.MethodPost, "/api/accounts/check", IDList{}).Code)
	assert.NotContains(t, e.log.String(), popPass)
}

// busyChecker answers every check as busy.
type busyChecker struct{}

func (busyChecker) Check(ctx context.Context, id string) (*multidrop.Report, error) {
	return nil, errors.Join(multidrop.ErrAccountBusy, errors.New(id))
}
func (busyChecker) LastReport(string) *multidrop.Report { return nil }

func TestCheckerAbsentOrBusy(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Checker = nil })
	e.put(e.account("a", "example.com"))
	assert.Equal(t, http.StatusNotImplemented, e.api(http.MethodPost, "/api/accounts/a/check", nil).Code)
	assert.Equal(t, http.StatusNotImplemented, e.get("/api/accounts/a/report").Code)
	assert.Equal(t, http.StatusNotImplemented, e.get("/report/a").Code)
	page := e.get("/").Body.String()
	assert.NotContains(t, page, "Check Now")
	assert.NotContains(t, page, "Last check")

	e2 := newEnv(t, nil, func(o *Options) { o.Checker = busyChecker{} })
	e2.put(e2.account("a", "example.com"))
	assert.Equal(t, http.StatusConflict, e2.api(http.MethodPost, "/api/accounts/a/check", nil).Code)
}

// The report of a check that the deletion guard holds says so, with its
// evidence, for the page to show.
func TestAPIReportShowsGuard(t *testing.T) {
	srv := &poptest.Server{}
	var msgs []poptest.Message
	for i := range 5 {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprint("u", i),
			Data: msg("spam", fmt.Sprintf("Message-ID: <m%d@x>", i), "From: x@remote.test", "To: nobody@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	e := newEnv(t, srv, nil)
	e.put(e.account("a", "example.com"))
	for _, check := range []string{"trips", "holds"} {
		w := e.api(http.MethodPost, "/api/accounts/a/check", nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var rep ReportView
		e.getJSON("/api/accounts/a/report", http.StatusOK, &rep)
		require.NotNil(t, rep.Guard, check)
		assert.Equal(t, 5, rep.Guard.NoRecipient, check)
		assert.Equal(t, 5, rep.Guard.Examined, check)
		assert.False(t, rep.Guard.Since.IsZero(), check)
		assert.Contains(t, rep.Error, "deletion guard", check)
		assert.Equal(t, 5, rep.Kept, check)
	}
	_, err := e.p.ReleaseGuard(t.Context(), "a")
	require.NoError(t, err)
	w := e.api(http.MethodPost, "/api/accounts/a/check", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var rep ReportView
	e.getJSON("/api/accounts/a/report", http.StatusOK, &rep)
	assert.Nil(t, rep.Guard)
	assert.Equal(t, 5, rep.Deleted)
}
