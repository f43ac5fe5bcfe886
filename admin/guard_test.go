package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/pop/poptest"
)

// guardServer is a POP server whose mailbox holds n messages for an
// unknown user only, so that a check trips the deletion guard.
func guardServer(n int) *poptest.Server {
	srv := &poptest.Server{}
	var msgs []poptest.Message
	for i := range n {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprint("u", i),
			Data: msg("spam", fmt.Sprintf("Message-ID: <m%d@x>", i), "From: x@remote.test", "To: nobody@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	return srv
}

// rowOfBody returns the list row of account id in a list page.
func rowOfBody(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `data-id="`+id+`"`)
	require.Positive(t, i, id)
	j := strings.Index(body[i:], "</li>")
	return body[i : i+j]
}

// TestGuardOnListAndReport: when the deletion guard holds an account, its
// row says so with the reason and offers Release guard, the report page
// shows the banner and the button; the release clears both and the next
// check deletes what the guard kept.
func TestGuardOnListAndReport(t *testing.T) {
	srv := guardServer(5)
	e := newEnv(t, srv, nil)
	e.put(e.account("a", popDomain))
	e.put(e.account("b", popDomain))

	body := e.get("/").Body.String()
	assert.Contains(t, body, `id="btn-release-guard"`)
	assert.NotContains(t, rowOfBody(t, body, "a"), "deletion guard")

	w := e.api(http.MethodPost, "/api/accounts/a/check", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	body = e.get("/").Body.String()
	row := rowOfBody(t, body, "a")
	assert.Contains(t, row, `data-guard="yes"`)
	assert.Contains(t, row, `data-state="deletion guard holds it"`)
	assert.Regexp(t, `<span class="c-state state-deletion-guard-holds-it">deletion guard holds it<span class="reason">: since \d{4}-\d\d-\d\d \d\d:\d\d UTC: 5 of the last 5 messages had no valid recipient; those are kept until you release the guard`, row)
	assert.NotContains(t, rowOfBody(t, body, "b"), "data-guard")

	rep := e.get("/report/a").Body.String()
	assert.Contains(t, rep, `id="guard-banner"`)
	assert.Contains(t, rep, "The deletion guard holds a</b> since ")
	assert.Contains(t, rep, "5 of the last 5 messages had no valid recipient")
	assert.Contains(t, rep, `<input type="hidden" name="to" value="report"><button type="submit" id="btn-release-guard">Release guard</button>`)
	assert.NotContains(t, e.get("/report/b").Body.String(), "guard-banner")
	require.Len(t, srv.Mailbox(popUser), 5, "the guard kept them")

	// Release guard without the anti-CSRF token is refused.
	r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "/release-guard", strings.NewReader("id=a"))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	assert.Equal(t, http.StatusForbidden, e.do(r).Code)
	g, err := e.p.Guard(t.Context(), "a")
	require.NoError(t, err)
	assert.True(t, g.Holds())

	// From the list: back to the same query with a notice.
	w = e.post("/release-guard", url.Values{"id": {"a", "b"}, "back": {"?domain=example.com"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	loc := w.Header().Get("Location")
	assert.Equal(t, "/?domain=example.com&released=a&unheld=b", loc)
	body = e.get(loc).Body.String()
	assert.Contains(t, body, `<p class="notice" role="status" id="page-notice">Deletion guard released for a: the next check deletes the messages without a valid recipient. The deletion guard did not hold b.</p>`)
	assert.NotContains(t, rowOfBody(t, body, "a"), "deletion guard holds it")
	assert.NotContains(t, rowOfBody(t, body, "a"), "data-guard")
	assert.Contains(t, e.log.String(), "admin: deletion guard released")

	// The report still shows the check that tripped, but no banner: the
	// guard no longer holds the account.
	rep = e.get("/report/a").Body.String()
	assert.NotContains(t, rep, "guard-banner")
	assert.Contains(t, rep, "deletion guard")

	w = e.api(http.MethodPost, "/api/accounts/a/check", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Empty(t, srv.Mailbox(popUser), "the next check deleted what the guard kept")
	row = rowOfBody(t, e.get("/").Body.String(), "a")
	assert.NotContains(t, row, "deletion guard")
	assert.Contains(t, row, `<span class="ok">0 deliveries, 0 kept, 5 dropped</span>`)
}

// TestGuardReleaseFromReport: the report page's button comes back to the
// report; an unknown account is a 404.
func TestGuardReleaseFromReport(t *testing.T) {
	e := newEnv(t, guardServer(5), nil)
	e.put(e.account("a", popDomain))
	require.Equal(t, http.StatusOK, e.api(http.MethodPost, "/api/accounts/a/check", nil).Code)
	w := e.post("/release-guard", url.Values{"id": {"a"}, "to": {"report"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/report/a?released=a", w.Header().Get("Location"))
	rep := e.get("/report/a?released=a").Body.String()
	assert.Contains(t, rep, `id="page-notice">Deletion guard released for a`)
	assert.NotContains(t, rep, "guard-banner")

	assert.Equal(t, http.StatusNotFound, e.post("/release-guard", url.Values{"id": {"nope"}}).Code)
	assert.Equal(t, http.StatusBadRequest, e.post("/release-guard", nil).Code)
}

// TestAPIReleaseGuard: POST /api/accounts/{id}/release-guard answers the
// guard's state, 409 while the account is being checked, 404 for an
// unknown account.
func TestAPIReleaseGuard(t *testing.T) {
	var hold atomic.Bool
	reached, release := make(chan struct{}, 1), make(chan struct{})
	srv := guardServer(5)
	srv.Rewrite = func(c poptest.Command, reply []byte) []byte {
		if c.Name == "STAT" && hold.Load() {
			reached <- struct{}{}
			<-release
		}
		return reply
	}
	e := newEnv(t, srv, nil)
	e.put(e.account("a", popDomain))
	require.Equal(t, http.StatusOK, e.api(http.MethodPost, "/api/accounts/a/check", nil).Code)

	// While a check runs, the release is refused.
	hold.Store(true)
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"a"}}).Code)
	<-reached // the check holds the account
	w := e.api(http.MethodPost, "/api/accounts/a/release-guard", nil)
	assert.Equal(t, http.StatusConflict, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "busy")
	// And on the page, a notice says to try again.
	w = e.post("/release-guard", url.Values{"id": {"a"}})
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/?busy=a", w.Header().Get("Location"))
	assert.Contains(t, e.get("/?busy=a").Body.String(), "a is being checked: release the guard again when the check ends.")
	hold.Store(false)
	close(release)
	e.h.bg.wg.Wait()

	var st GuardState
	w = e.api(http.MethodPost, "/api/accounts/a/release-guard", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, GuardState{ID: "a", Released: true}, st)

	w = e.api(http.MethodPost, "/api/accounts/a/release-guard", nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, GuardState{ID: "a", Released: false}, st, "nothing to release")

	assert.Equal(t, http.StatusNotFound, e.api(http.MethodPost, "/api/accounts/nope/release-guard", nil).Code)

	// A Checker without the capability: 501.
	e2 := newEnv(t, nil, func(o *Options) { o.Checker = busyChecker{} })
	e2.put(e2.account("a", popDomain))
	assert.Equal(t, http.StatusNotImplemented, e2.api(http.MethodPost, "/api/accounts/a/release-guard", nil).Code)
	assert.NotContains(t, e2.get("/").Body.String(), "btn-release-guard")
}
