package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowser drives the page in headless Chromium through chromedriver
// (W3C WebDriver over plain HTTP): create three accounts in two domains,
// filter by domain, select rows with Ctrl and Shift, edit by double-click,
// see a validation error next to its field, Check Now and read the report,
// cancel a deletion and then confirm it. It saves a screenshot of the list.
func TestBrowser(t *testing.T) {
	driver, err := exec.LookPath("chromedriver")
	if _, serr := os.Stat(chromiumPath); serr != nil || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) or chromedriver missing under CI: %v %v", chromiumPath, serr, err)
		}
		t.Skip("skipping: chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
	}

	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Delivered-To: alice@example.com", "Message-ID: <m1@x>", "From: x@remote.test", "To: list@remote.test", "Subject: "+hostile)},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <m2@x>", "From: x@remote.test", "To: nobody@example.com", "Subject: two")},
	)
	e := newEnv(t, srv, func(o *Options) { o.Prefix = "/admin" })
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.h))
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	base := web.URL + "/admin/"

	wd := startDriver(t, driver)
	wd.navigate(base)
	assert.Equal(t, "Remote POP Accounts", wd.title())

	// Create three accounts in two domains with New: the Basic section
	// and two values in folded Advanced groups.
	// Each account has its own mailbox on the server; alpha's holds the mail.
	srv.AddUser("beta-drop", popPass)
	srv.AddUser("gamma-drop", popPass)
	for i, acc := range []struct{ id, desc, domain, user string }{
		{"alpha", "Alpha mailbox", "example.com", popUser},
		{"beta", "Beta mailbox", "example.com", "beta-drop"},
		{"gamma", "Gamma mailbox", "example.net", "gamma-drop"},
	} {
		wd.click(wd.find("#btn-new"))
		wd.waitFor("#account-form")
		if i == 0 {
			assert.True(t, wd.displayed("#btn-save"), "Save is visible without scrolling")
			assert.False(t, wd.displayed(`[name="TLS.RootCAs"]`), "advanced groups start folded")
			t.Log("screenshot of the new-account form:", wd.screenshot(t, "admin-form.png"))
			wd.click(wd.find("#group-tls-details > summary"))
			assert.True(t, wd.displayed(`[name="TLS.RootCAs"]`), "a group unfolds")
			assert.Contains(t, wd.text(wd.find("#group-tls-details")), "Default: the system's")
			t.Log("screenshot of an unfolded group:", wd.screenshot(t, "admin-form-tls.png"))
		}
		wd.typeInto(`[name="ID"]`, acc.id)
		wd.typeInto(`[name="Description"]`, acc.desc)
		wd.typeInto(`[name="Host"]`, e.host)
		wd.typeInto(`[name="Port"]`, strconv.Itoa(e.port))
		wd.typeInto(`[name="Domain"]`, acc.domain)
		wd.setValue(`[name="TLS.RootCAs"]`, string(srv.CAPEM()))
		wd.typeInto(`[name="Auth.User"]`, acc.user)
		wd.typeInto(`[name="Auth.Secret"]`, popPass)
		wd.setValue(`[name="Auth.Mechanism"]`, "user")
		wd.click(wd.find("#btn-save"))
		wd.waitFor(`#accounts li[data-id="` + acc.id + `"]`)
	}
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.rowIDs())
	stored, err := e.store.Get(t.Context(), "gamma")
	require.NoError(t, err)
	assert.Equal(t, popPass, stored.Auth.Secret)
	assert.Equal(t, account.MechanismUser, stored.Auth.Mechanism)
	assert.Contains(t, wd.text(wd.find("#count")), "3 accounts")

	// For Domain.
	wd.click(wd.find(`#domain-filter option[value="example.net"]`))
	wd.waitUntil("the example.net view", func() bool { return strings.Contains(wd.url(), "domain=example.net") })
	assert.Equal(t, []string{"gamma"}, wd.rowIDs())
	wd.click(wd.find(`#domain-filter option[value=""]`))
	wd.waitUntil("all domains", func() bool { return len(wd.rowIDs()) == 3 })

	// The list is one Tab stop, a listbox whose options are not focusable.
	assert.Equal(t, "listbox", wd.attr("#accounts", "role"))
	assert.Len(t, wd.findAll("#accounts [tabindex]"), 0, "no Tab stop inside the list")
	assert.Len(t, wd.findAll("#accounts a, #accounts input, #accounts button"), 0, "nothing interactive inside an option")

	// Mouse selection: click, Shift-click a range, Ctrl-click to add and remove.
	wd.click(wd.row("alpha"))
	assert.Equal(t, []string{"alpha"}, wd.selected())
	assert.True(t, wd.enabled("#btn-edit"))
	wd.modClick(keyShift, wd.row("gamma"))
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.selected())
	assert.False(t, wd.enabled("#btn-edit"), "Edit needs exactly one row")
	wd.modClick(keyControl, wd.row("beta"))
	assert.Equal(t, []string{"alpha", "gamma"}, wd.selected())
	wd.click(wd.row("beta"))
	assert.Equal(t, []string{"beta"}, wd.selected(), "a plain click selects one row")

	// Keyboard selection, on the focused list.
	assert.Equal(t, "accounts", wd.activeID(), "a click focuses the list")
	wd.keys("", keyUp)
	assert.Equal(t, []string{"alpha"}, wd.selected(), "Up moves and selects")
	assert.Equal(t, "row-alpha", wd.attr("#accounts", "aria-activedescendant"))
	wd.keys(keyShift, keyDown)
	wd.keys(keyShift, keyDown)
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.selected(), "Shift+Down extends")
	wd.keys(keyControl, keyUp)
	assert.Equal(t, "row-beta", wd.attr("#accounts", "aria-activedescendant"), "Ctrl+Up moves only")
	wd.keys("", " ")
	assert.Equal(t, []string{"alpha", "gamma"}, wd.selected(), "Space toggles the active row")
	wd.keys("", keyHome)
	assert.Equal(t, []string{"alpha"}, wd.selected())
	wd.keys(keyControl, keyDown)
	wd.keys("", " ")
	assert.Equal(t, []string{"alpha", "beta"}, wd.selected(), "Ctrl+Down then Space adds a row")
	assert.True(t, wd.enabled("#btn-delete"))
	assert.True(t, wd.enabled("#btn-check"))

	// Edit with Enter; a validation error shows next to its field.
	wd.keys("", keyEnter)
	wd.waitFor("#account-form")
	assert.Equal(t, "Edit POP Account", wd.title())
	assert.Equal(t, "beta", wd.prop("#f-ID", "value"))
	assert.Empty(t, wd.prop(`[name="Auth.Secret"]`, "value"), "the password is never sent back")
	assert.NotContains(t, wd.source(), popPass)
	wd.typeInto(`[name="Port"]`, "70000")
	wd.click(wd.find("#btn-save"))
	wd.waitFor(`.field-error[data-field="Port"]`)
	assert.Contains(t, wd.text(wd.find(`.field-error[data-field="Port"]`)), "out of range")
	assert.Contains(t, wd.text(wd.find("#page-error")), "not saved")
	t.Log("screenshot of a validation error:", wd.screenshot(t, "admin-edit-error.png"))
	wd.typeInto(`[name="Port"]`, strconv.Itoa(e.port))
	wd.typeInto(`[name="Description"]`, "Beta edited")
	wd.click(wd.find("#btn-save"))
	wd.waitFor(`#accounts li[data-id="beta"]`)
	assert.Contains(t, wd.text(wd.find(`#accounts li[data-id="beta"]`)), "Beta edited")
	stored, _ = e.store.Get(t.Context(), "beta")
	assert.Equal(t, popPass, stored.Auth.Secret, "the stored password was kept")

	// Edited by someone else meanwhile: the form says so.
	wd.doubleClick(wd.row("gamma"))
	wd.waitFor("#account-form")
	g, err := e.store.Get(t.Context(), "gamma")
	require.NoError(t, err)
	g.Description = "changed elsewhere"
	_, err = e.store.Update(t.Context(), g)
	require.NoError(t, err)
	wd.typeInto(`[name="Description"]`, "my change")
	wd.click(wd.find("#btn-save"))
	wd.waitFor("#conflict")
	assert.Contains(t, wd.text(wd.find("#page-error")), "Someone else changed this account")
	g, _ = e.store.Get(t.Context(), "gamma")
	assert.Equal(t, "changed elsewhere", g.Description, "nothing overwritten")
	wd.navigate(base)

	// Check Now on two rows, one of them disabled: the browser comes back to
	// the list at once and the rows show the outcome.
	d, _ := e.store.Get(t.Context(), "gamma")
	d.Enabled = false
	_, err = e.store.Put(t.Context(), d)
	require.NoError(t, err)
	wd.navigate(base)
	assert.Contains(t, wd.attr(`#accounts li[data-id="gamma"]`, "class"), "disabled")
	wd.click(wd.row("alpha"))
	wd.modClick(keyControl, wd.row("gamma"))
	wd.click(wd.find("#btn-check"))
	wd.waitUntil("the check's outcome", func() bool {
		return strings.Contains(wd.textOf(`#accounts li[data-id="alpha"] .c-result`), "1 delivery") &&
			!strings.Contains(wd.textOf("#accounts"), "checking")
	})
	assert.Equal(t, base, wd.url(), "back on the list (303), not on /check")
	assert.Contains(t, wd.text(wd.find(`#accounts li[data-id="alpha"] .c-result`)), "1 delivery, 0 kept, 1 dropped")
	assert.Contains(t, wd.text(wd.find(`#accounts li[data-id="alpha"] .c-last`)), "just now")
	assert.NotEmpty(t, wd.attr(`#accounts li[data-id="alpha"] .c-last time`, "title"), "the exact time on hover")
	assert.Contains(t, wd.text(wd.find(`#accounts li[data-id="gamma"] .c-state`)), "disabled")
	assert.NotContains(t, wd.source(), "<script>alert")
	t.Log("screenshot of the list page:", wd.screenshot(t, "admin-list.png"))
	nChecks := strings.Count(e.log.String(), `msg="admin: check`)
	wd.navigate(wd.url()) // a reload
	wd.waitFor("#accounts")
	assert.Equal(t, nChecks, strings.Count(e.log.String(), `msg="admin: check`), "a reload checks nothing")

	// The history page, from the edit form's History button.
	wd.doubleClick(wd.row("alpha"))
	wd.waitFor("#link-history")
	wd.click(wd.find("#link-history"))
	wd.waitFor("#history-count")
	hist := wd.text(wd.find("main"))
	assert.Contains(t, hist, "The last 1 check of alpha")
	assert.Contains(t, hist, "1 delivery, 0 kept, 1 dropped")
	assert.Contains(t, wd.text(wd.find("table.messages")), "alice@example.com delivered")
	assert.Contains(t, wd.text(wd.find("table.messages")), "nobody@example.com (To): unknown")
	t.Log("screenshot of the history page:", wd.screenshot(t, "admin-history.png"))

	wd.navigate(base + "report/alpha")
	wd.waitFor("#report-summary")
	page := wd.text(wd.find("main"))
	assert.Contains(t, page, "Recipients: alice@example.com")
	assert.Contains(t, page, "nobody@example.com (To): unknown")
	assert.Contains(t, page, "alice@example.com: delivered")
	wd.navigate(base)

	// Delete two rows in the in-page dialog: Cancel deletes nothing.
	wd.click(wd.row("alpha"))
	wd.modClick(keyShift, wd.row("beta"))
	wd.click(wd.find("#btn-delete"))
	wd.waitFor("#delete-dialog[open]")
	assert.Contains(t, wd.text(wd.find("#delete-title")), "Delete these 2 accounts?")
	list := wd.text(wd.find("#delete-list"))
	assert.Contains(t, list, "alpha")
	assert.Contains(t, list, "beta")
	assert.NotContains(t, list, "gamma")
	t.Log("screenshot of the delete dialog:", wd.screenshot(t, "admin-delete-dialog.png"))
	wd.click(wd.find("#delete-cancel"))
	wd.waitUntil("the dialog to close", func() bool { return len(wd.findAll("#delete-dialog[open]")) == 0 })
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.rowIDs())
	accs, err := e.store.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	assert.Len(t, accs, 3)
	wd.click(wd.find("#btn-delete"))
	wd.waitFor("#delete-dialog[open]")
	wd.click(wd.find("#delete-confirm"))
	wd.waitUntil("the deletion", func() bool { return len(wd.rowIDs()) == 1 })
	assert.Equal(t, []string{"gamma"}, wd.rowIDs())
	accs, _ = e.store.List(t.Context(), account.Filter{})
	require.Len(t, accs, 1)
	assert.Equal(t, "gamma", accs[0].ID)
	assert.NotContains(t, e.log.String(), popPass)

	// 10,000 accounts: a page of 50, paging and search stay quick.
	for i := range 10_000 {
		a := e.account(fmt.Sprintf("bulk%05d", i), "example.org")
		a.Description = fmt.Sprintf("Customer %d", i)
		_, err := e.store.Put(t.Context(), a)
		require.NoError(t, err)
	}
	wd.navigate(base)
	assert.Contains(t, wd.text(wd.find("#count")), "10001 accounts")
	assert.Len(t, wd.rowIDs(), PageSize)
	wd.click(wd.find("#page-next"))
	wd.waitUntil("page 2", func() bool { return strings.Contains(wd.url(), "page=2") })
	assert.Equal(t, "bulk00050", wd.rowIDs()[0])
	t.Log("screenshot of page 2 of 10,001 accounts:", wd.screenshot(t, "admin-paging.png"))
	wd.typeInto("#search", "customer 4242")
	wd.click(wd.find("#btn-search"))
	wd.waitUntil("the search", func() bool { return strings.Contains(wd.url(), "q=customer") })
	assert.Equal(t, []string{"bulk04242"}, wd.rowIDs())
	assert.Contains(t, wd.text(wd.find("#count")), "1 of 10001 accounts match")
}

// webDriver is a minimal W3C WebDriver client for one session.
type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:port/session/id
	client  *http.Client
	timeout time.Duration
}

const (
	keyShift   = "\uE008"
	keyControl = "\uE009"
	keyEnter   = "\uE007"
	keyHome    = "\uE011"
	keyUp      = "\uE013"
	keyDown    = "\uE015"
	elementKey = "element-6066-11e4-a52e-4f735466cecf"
)

// startDriver starts chromedriver on a free loopback port and a headless
// Chromium session; both end with the test.
func startDriver(t *testing.T, driver string) *webDriver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	// The driver's log goes to a file, not a pipe that Chromium's processes
	// would inherit and hold open; the driver and the browser run in their
	// own process group, killed as a whole at the end.
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = logFile.Close() })
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1", "--log-path="+logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	driverLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	wd := &webDriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 30 * time.Second}, timeout: 20 * time.Second}
	t.Cleanup(wd.client.CloseIdleConnections)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := wd.client.Get(wd.base + "/status")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %v\n%s", err, driverLog())
		}
		time.Sleep(50 * time.Millisecond)
	}

	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":             "chrome",
		"unhandledPromptBehavior": "ignore",
		"goog:chromeOptions": map[string]any{
			"binary": chromiumPath,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
				"--disable-sync", "--window-size=1280,900", "--user-data-dir=" + t.TempDir()},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	wd.call(http.MethodPost, "/session", caps, &sess)
	require.NotEmpty(t, sess.SessionID)
	root := wd.base
	wd.base = root + "/session/" + sess.SessionID
	t.Cleanup(func() { wd.call(http.MethodDelete, "", nil, nil) })
	return wd
}

// call sends one WebDriver command and decodes its "value" into out.
func (wd *webDriver) call(method, path string, body, out any) {
	wd.t.Helper()
	if err := wd.try(method, path, body, out); err != nil {
		wd.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
}

func (wd *webDriver) try(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else if method == http.MethodPost {
		rd = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: %s", resp.Status, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (wd *webDriver) navigate(u string) {
	wd.call(http.MethodPost, "/url", map[string]string{"url": u}, nil)
}

func (wd *webDriver) url() (u string) { wd.call(http.MethodGet, "/url", nil, &u); return }

func (wd *webDriver) title() (s string) { wd.call(http.MethodGet, "/title", nil, &s); return }

func (wd *webDriver) source() (s string) { wd.call(http.MethodGet, "/source", nil, &s); return }

func (wd *webDriver) findAll(css string) []string {
	var els []map[string]string
	wd.call(http.MethodPost, "/elements", map[string]string{"using": "css selector", "value": css}, &els)
	ids := make([]string, len(els))
	for i, el := range els {
		ids[i] = el[elementKey]
	}
	return ids
}

func (wd *webDriver) find(css string) string {
	wd.t.Helper()
	wd.waitFor(css)
	return wd.findAll(css)[0]
}

func (wd *webDriver) waitFor(css string) {
	wd.t.Helper()
	wd.waitUntil(css, func() bool { return len(wd.findAll(css)) > 0 })
}

func (wd *webDriver) waitUntil(what string, cond func() bool) {
	wd.t.Helper()
	deadline := time.Now().Add(wd.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			wd.t.Fatalf("timed out waiting for %s; page:\n%s", what, wd.source())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (wd *webDriver) click(el string) { wd.call(http.MethodPost, "/element/"+el+"/click", nil, nil) }

func (wd *webDriver) text(el string) (s string) {
	wd.call(http.MethodGet, "/element/"+el+"/text", nil, &s)
	return
}

func (wd *webDriver) prop(css, name string) (v any) {
	wd.call(http.MethodGet, "/element/"+wd.find(css)+"/property/"+name, nil, &v)
	return
}

func (wd *webDriver) enabled(css string) (b bool) {
	wd.call(http.MethodGet, "/element/"+wd.find(css)+"/enabled", nil, &b)
	return
}

// typeInto clears a field and types s with key events.
func (wd *webDriver) typeInto(css, s string) {
	el := wd.find(css)
	wd.call(http.MethodPost, "/element/"+el+"/clear", nil, nil)
	wd.call(http.MethodPost, "/element/"+el+"/value", map[string]string{"text": s}, nil)
}

// setValue sets a long value (a PEM block) by script rather than typing it.
func (wd *webDriver) setValue(css, s string) {
	wd.call(http.MethodPost, "/execute/sync", map[string]any{
		"script": "arguments[0].value = arguments[1];",
		"args":   []any{map[string]string{elementKey: wd.find(css)}, s},
	}, nil)
}

func (wd *webDriver) row(id string) string {
	return wd.find(`#accounts li[data-id="` + id + `"] .c-host`)
}

func (wd *webDriver) attr(css, name string) (v string) {
	var out any
	wd.call(http.MethodGet, "/element/"+wd.find(css)+"/attribute/"+name, nil, &out)
	if s, ok := out.(string); ok {
		return s
	}
	return ""
}

func (wd *webDriver) displayed(css string) (b bool) {
	wd.call(http.MethodGet, "/element/"+wd.find(css)+"/displayed", nil, &b)
	return b
}

// activeID is the id of the focused element.
func (wd *webDriver) activeID() string {
	var v string
	wd.call(http.MethodPost, "/execute/sync", map[string]any{"script": "return document.activeElement.id;", "args": []any{}}, &v)
	return v
}

// keys presses key with the modifier mod ("" for none) held.
func (wd *webDriver) keys(mod, key string) {
	var acts []map[string]any
	if mod != "" {
		acts = append(acts, map[string]any{"type": "keyDown", "value": mod})
	}
	acts = append(acts, map[string]any{"type": "keyDown", "value": key}, map[string]any{"type": "keyUp", "value": key})
	if mod != "" {
		acts = append(acts, map[string]any{"type": "keyUp", "value": mod})
	}
	wd.perform(map[string]any{"type": "key", "id": "keyboard", "actions": acts})
}

// ids returns the data-id of the elements matching css, read in one
// script call so that a page reloading itself cannot leave a stale element.
func (wd *webDriver) ids(css string) []string {
	var ids []string
	wd.call(http.MethodPost, "/execute/sync", map[string]any{
		"script": "return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.dataset.id; });",
		"args":   []any{css},
	}, &ids)
	return ids
}

// textOf returns the text of the first element matching css, or "".
func (wd *webDriver) textOf(css string) string {
	var s string
	wd.call(http.MethodPost, "/execute/sync", map[string]any{
		"script": "var e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
		"args":   []any{css},
	}, &s)
	return s
}

func (wd *webDriver) rowIDs() []string { return wd.ids("#accounts li[data-id]") }

func (wd *webDriver) selected() []string { return wd.ids(`#accounts li[aria-selected="true"]`) }

func (wd *webDriver) pointer(el string, clicks int) []map[string]any {
	acts := []map[string]any{{"type": "pointerMove", "duration": 0, "origin": map[string]string{elementKey: el}, "x": 0, "y": 0}}
	for range clicks {
		acts = append(acts, map[string]any{"type": "pointerDown", "button": 0}, map[string]any{"type": "pointerUp", "button": 0})
	}
	return acts
}

func (wd *webDriver) perform(sources ...map[string]any) {
	wd.call(http.MethodPost, "/actions", map[string]any{"actions": sources}, nil)
	wd.call(http.MethodDelete, "/actions", nil, nil)
}

// modClick clicks el with a modifier key held (Actions API).
func (wd *webDriver) modClick(key, el string) {
	ptr := wd.pointer(el, 1)
	keys := []map[string]any{{"type": "keyDown", "value": key}}
	for range ptr {
		keys = append(keys, map[string]any{"type": "pause", "duration": 0})
	}
	keys = append(keys, map[string]any{"type": "keyUp", "value": key})
	ptr = append([]map[string]any{{"type": "pause", "duration": 0}}, ptr...)
	wd.perform(
		map[string]any{"type": "key", "id": "keyboard", "actions": keys},
		map[string]any{"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"}, "actions": ptr},
	)
}

func (wd *webDriver) doubleClick(el string) {
	wd.perform(map[string]any{"type": "pointer", "id": "mouse", "parameters": map[string]string{"pointerType": "mouse"}, "actions": wd.pointer(el, 2)})
}

// screenshot saves the page as a PNG under os.TempDir()/multidrop-artifacts
// and returns its path.
func (wd *webDriver) screenshot(t *testing.T, name string) string {
	var b64 string
	wd.call(http.MethodGet, "/screenshot", nil, &b64)
	png, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG")
	dir := filepath.Join(os.TempDir(), "multidrop-artifacts")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	return path
}

// TestBrowserGuard: the list says which account the deletion guard holds
// and why; Release guard is enabled only for a selection with such a row,
// and the report's banner has its own button.
func TestBrowserGuard(t *testing.T) {
	driver, err := exec.LookPath("chromedriver")
	if _, serr := os.Stat(chromiumPath); serr != nil || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium (%s) or chromedriver missing under CI: %v %v", chromiumPath, serr, err)
		}
		t.Skip("skipping: chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
	}
	srv := guardServer(9)
	srv.AddUser("other-drop", popPass)
	e := newEnv(t, srv, func(o *Options) { o.Prefix = "/admin" })
	e.put(e.account("held", popDomain))
	other := e.account("other", popDomain)
	other.Auth.User = "other-drop"
	e.put(other)
	require.Equal(t, http.StatusOK, e.api(http.MethodPost, "/api/accounts/held/check", nil).Code)
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", e.h))
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	base := web.URL + "/admin/"

	wd := startDriver(t, driver)
	wd.navigate(base)
	state := wd.text(wd.find(`#row-held .c-state`))
	assert.Contains(t, state, "deletion guard holds it: since ")
	assert.Contains(t, state, "9 of the last 9 messages had no valid recipient; those are kept")
	assert.Equal(t, "enabled", wd.text(wd.find(`#row-other .c-state`)))
	assert.False(t, wd.enabled("#btn-release-guard"), "nothing selected")
	wd.click(wd.row("other"))
	assert.False(t, wd.enabled("#btn-release-guard"), "the guard does not hold other")
	wd.modClick(keyControl, wd.row("held"))
	assert.True(t, wd.enabled("#btn-release-guard"))
	t.Log("screenshot of the list with a held account:", wd.screenshot(t, "admin-guard-list.png"))

	// The report page: the banner and its button.
	wd.navigate(base + "report/held")
	assert.Contains(t, wd.text(wd.find("#guard-banner")), "The deletion guard holds held since ")
	t.Log("screenshot of the report's banner:", wd.screenshot(t, "admin-guard-report.png"))
	wd.click(wd.find("#guard-banner #btn-release-guard"))
	wd.waitFor("#page-notice")
	assert.Contains(t, wd.text(wd.find("#page-notice")), "Deletion guard released for held")
	assert.Empty(t, wd.findAll("#guard-banner"))
	g, err := e.p.Guard(t.Context(), "held")
	require.NoError(t, err)
	assert.False(t, g.Holds())

	// From the list's toolbar too, once it trips again.
	require.Equal(t, http.StatusOK, e.api(http.MethodPost, "/api/accounts/held/check", nil).Code) // deletes the 9
	for i := range 9 {
		srv.AddMessages(popUser, poptest.Message{UID: fmt.Sprint("v", i),
			Data: msg("spam", fmt.Sprintf("Message-ID: <n%d@x>", i), "From: x@remote.test", "To: nobody@example.com")})
	}
	require.Equal(t, http.StatusOK, e.api(http.MethodPost, "/api/accounts/held/check", nil).Code)
	wd.navigate(base)
	require.Contains(t, wd.text(wd.find(`#row-held .c-state`)), "deletion guard holds it")
	wd.click(wd.row("held"))
	wd.click(wd.find("#btn-release-guard"))
	wd.waitFor("#page-notice")
	assert.Contains(t, wd.text(wd.find("#page-notice")), "Deletion guard released for held")
	assert.NotContains(t, wd.text(wd.find(`#row-held .c-state`)), "deletion guard")
}
