package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// TestHistoryPage checks an account twice through the page and reads its
// history: newest first, the counts, per message the recipients, the
// outcome, the reason and the warnings; a failed check as a sentence with
// the chain behind a disclosure.
func TestHistoryPage(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Delivered-To: alice@example.com", "Message-ID: <m1@x>", "From: x@remote.test", "Subject: one")},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <m2@x>", "From: x@remote.test", "To: nobody@example.com", "Subject: "+hostile)},
	)
	e := newEnv(t, srv, nil)
	e.put(e.account("a", popDomain))
	bad := e.account("b", popDomain)
	bad.Auth.Secret = "wrong"
	e.put(bad)

	body := e.get("/history/a").Body.String()
	assert.Contains(t, body, "No check of this account has been recorded yet.")
	assert.Contains(t, e.get("/edit/a").Body.String(), `id="link-history" href="/history/a"`)

	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"a", "b"}}).Code)
	e.h.bg.wg.Wait()
	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"a"}}).Code)
	e.h.bg.wg.Wait()

	recs, err := e.history.Checks(t.Context(), "a", 0)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	first := recs[1]
	assert.Equal(t, 1, first.Counts.Delivered)
	require.Len(t, first.Messages, 2)
	assert.Equal(t, account.CheckMessage{UID: "u1", Subject: "one", From: "x@remote.test", Recipients: []string{"alice@example.com"}, Outcome: "delivered", Reason: first.Messages[0].Reason}, first.Messages[0])
	assert.Equal(t, "dropped", first.Messages[1].Outcome)
	assert.Equal(t, hostile, first.Messages[1].Subject, "stored as text, escaped when shown")
	assert.Contains(t, strings.Join(first.Messages[1].Warnings, "\n"), "nobody@example.com (To): unknown")

	w := e.get("/history/a")
	require.Equal(t, http.StatusOK, w.Code)
	body = w.Body.String()
	assert.Contains(t, body, "The last 2 checks of a, newest first")
	assert.Equal(t, 2, strings.Count(body, `<section class="check"`))
	assert.Less(t, strings.Index(body, `0 deliveries, 0 kept, 0 dropped`), strings.Index(body, `1 delivery, 0 kept, 1 dropped`), "newest first")
	assert.Contains(t, body, `<tr class="outcome-delivered"><td><code>u1</code></td>`)
	assert.Contains(t, body, "<td>alice@example.com</td><td>delivered</td>")
	assert.Contains(t, body, "<td><code>u1</code></td><td>one</td><td>x@remote.test</td>", "subject and sender")
	assert.Contains(t, body, "<div>nobody@example.com (To): unknown")
	assertEscaped(t, body)

	body = e.get("/history/b").Body.String()
	assert.Contains(t, body, `<section class="check check-failed"`)
	assert.Contains(t, body, "The server refused the user name or password.")
	assert.Contains(t, body, "<details><summary>Technical details</summary><code>")

	assert.Equal(t, http.StatusNotFound, e.get("/history/nope").Code)
	noHist := newEnv(t, nil, func(o *Options) { o.History = nil })
	noHist.put(noHist.account("a", popDomain))
	assert.Equal(t, http.StatusNotFound, noHist.get("/history/a").Code)
	assert.NotContains(t, noHist.get("/edit/a").Body.String(), "link-history")
}

// TestListNextLogin: after a check of a server announcing LOGIN-DELAY, the
// list's state column says when the next login is allowed (relative, the
// exact time on hover), from the newest record of the history; a time
// already past is not shown.
func TestListNextLogin(t *testing.T) {
	srv := &poptest.Server{LoginDelay: 900}
	e := newEnv(t, srv, nil)
	e.put(e.account("a", popDomain))
	e.put(e.account("b", popDomain))

	require.Equal(t, http.StatusSeeOther, e.post("/check", url.Values{"id": {"a"}}).Code)
	e.h.bg.wg.Wait()
	recs, err := e.history.Checks(t.Context(), "a", 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	next := recs[0].NextLogin
	require.False(t, next.IsZero(), "the record keeps the server's LOGIN-DELAY")
	assert.WithinDuration(t, recs[0].Start.Add(15*time.Minute), next, 10*time.Second)

	body := e.get("/").Body.String()
	rowA := body[strings.Index(body, `id="row-a"`):strings.Index(body, `id="row-b"`)]
	assert.Contains(t, rowA, `; next login allowed <time datetime="`+next.UTC().Format(time.RFC3339)+`" title="`+next.UTC().Format("2006-01-02 15:04:05 UTC")+`">in 1`)
	assert.NotContains(t, body[strings.Index(body, `id="row-b"`):], "next login allowed", "b was never checked")

	// An older constraint, already past, is not shown.
	past := account.CheckRecord{AccountID: "b", Start: time.Now().Add(-time.Hour), NextLogin: time.Now().Add(-time.Minute), State: "ok"}
	require.NoError(t, e.history.AddCheck(t.Context(), past))
	body = e.get("/").Body.String()
	assert.NotContains(t, body[strings.Index(body, `id="row-b"`):], "next login allowed")
}
