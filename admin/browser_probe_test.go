package admin

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// TestBrowserProbe drives Test connection and Preview in headless
// Chromium: on an existing account (the stored password) and on a new one
// (the typed password), a failed login with the typed password kept in
// the form, the per-message preview table, and a form error shown next to
// its field as Save shows it. Nothing is saved, deleted or delivered.
func TestBrowserProbe(t *testing.T) {
	driver, err := exec.LookPath("chromedriver")
	if _, serr := os.Stat(chromiumPath); serr != nil || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) or chromedriver missing under CI: %v %v", chromiumPath, serr, err)
		}
		t.Skip("skipping: chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
	}
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <m1@x>", "From: Carol <carol@remote.test>", "To: alice@example.com, bob@example.com", "Subject: quarterly report")},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <m2@x>", "From: x@remote.test", "To: nobody@example.com", "Subject: "+hostile)},
		poptest.Message{UID: "u3", Data: msg("fwd", "Delivered-To: bob@example.com", "Message-ID: <m3@x>", "From: dave@remote.test", "To: list@remote.test", "Subject: minutes")},
	)
	e := probeEnv(t, srv, "/admin")
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.h))
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	base := web.URL + "/admin/"
	stored := e.put(e.account("alpha", popDomain))

	wd := startDriver(t, driver)
	wd.navigate(base + "edit/alpha")
	wd.waitFor("#btn-test")
	assert.True(t, wd.displayed("#btn-test"), "Test connection beside Save, without scrolling")
	assert.True(t, wd.displayed("#btn-preview"))

	// Test connection with the stored password: each step, the certificate.
	wd.click(wd.find("#btn-test"))
	wd.waitFor("#test-verdict")
	assert.Contains(t, wd.text(wd.find("#test-verdict")), "OK: logged in to "+e.host+":"+strconv.Itoa(e.port)+" and found 3 messages")
	steps := wd.text(wd.find("table.steps"))
	for _, s := range []string{"Connect ok", "TLS ok", "Login ok", "CAPA ok", "STAT ok"} {
		assert.Contains(t, steps, s)
	}
	assert.Equal(t, "CN=localhost", wd.text(wd.find(".cert-subject")))
	assert.NotEmpty(t, wd.text(wd.find(".cert-issuer")))
	assert.Regexp(t, `^[0-9a-f]{64}$`, wd.text(wd.find(".cert-pin")))
	assert.Regexp(t, `UTC \(in (less than a day|\d+ days?)\)`, wd.text(wd.find(".cert-expires")))
	assert.Equal(t, base+"edit/alpha", wd.url(), "the form stays where it is")
	assert.True(t, wd.displayed("#test-verdict"), "the result is in view")
	t.Log("screenshot of Test connection:", wd.screenshot(t, "admin-test-connection.png"))

	// A typed password is tried, stays in the field, and is not sent back.
	wd.typeInto(`[name="Auth.Secret"]`, "typed-Wrong-9c1d")
	wd.click(wd.find("#btn-test"))
	wd.waitUntil("the failed login", func() bool { return strings.Contains(wd.textOf("#test-verdict"), "FAILED to log in") })
	assert.Contains(t, wd.text(wd.find(`tr[data-step="Login"]`)), "failed")
	assert.Equal(t, "typed-Wrong-9c1d", wd.prop(`[name="Auth.Secret"]`, "value"), "the form keeps what was typed")
	assert.NotContains(t, wd.source(), popPass)
	wd.typeInto(`[name="Auth.Secret"]`, "")

	// Preview: the per-message table.
	wd.click(wd.find("#btn-preview"))
	wd.waitFor("#preview-table")
	assert.Contains(t, wd.text(wd.find("#preview-summary")), "3 of 3 messages previewed (2 to deliver, 1 to drop); nothing was deleted or delivered.")
	rows := wd.findAll("#preview-table tbody tr")
	require.Len(t, rows, 3)
	r1 := wd.text(rows[0])
	assert.Contains(t, r1, "quarterly report")
	assert.Contains(t, r1, "Carol <carol@remote.test>")
	assert.Contains(t, r1, "deliver")
	assert.Contains(t, r1, "alice@example.com, bob@example.com")
	r2 := wd.text(rows[1])
	assert.Contains(t, r2, hostile, "shown as text")
	assert.Contains(t, r2, "drop")
	assert.Contains(t, r2, "not: nobody@example.com (To): unknown")
	assert.Contains(t, wd.text(rows[2]), "bob@example.com")
	assert.NotContains(t, wd.source(), "<script>alert")
	t.Log("screenshot of Preview:", wd.screenshot(t, "admin-preview.png"))

	// A form error: shown next to its field, as Save shows it.
	wd.typeInto(`[name="Port"]`, "70000")
	wd.click(wd.find("#btn-test"))
	wd.waitFor(`.field-error[data-field="Port"]`)
	assert.Contains(t, wd.text(wd.find(`.field-error[data-field="Port"]`)), "out of range")
	assert.Contains(t, wd.text(wd.find("#page-error")), "Nothing was tried")

	// A new account: Test connection with the typed password; nothing created.
	wd.navigate(base + "new")
	wd.waitFor("#account-form")
	wd.typeInto(`[name="ID"]`, "beta")
	wd.typeInto(`[name="Host"]`, e.host)
	wd.typeInto(`[name="Port"]`, strconv.Itoa(e.port))
	wd.typeInto(`[name="Domain"]`, popDomain)
	wd.setValue(`[name="TLS.RootCAs"]`, string(srv.CAPEM()))
	wd.typeInto(`[name="Auth.User"]`, popUser)
	wd.typeInto(`[name="Auth.Secret"]`, popPass)
	wd.click(wd.find("#btn-test"))
	wd.waitFor("#test-verdict")
	assert.Contains(t, wd.text(wd.find("#test-verdict")), "OK: logged in")

	accs, err := e.store.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	require.Len(t, accs, 1, "nothing created")
	assert.Equal(t, stored, accs[0], "nothing saved")
	assert.Len(t, srv.Mailbox(popUser), 3, "nothing deleted")
	assert.Zero(t, e.dlv.Calls(), "nothing delivered")
	assert.NotContains(t, e.log.String(), popPass)
}
