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

	// Create three accounts in two domains with New.
	// Each account has its own mailbox on the server; alpha's holds the mail.
	srv.AddUser("beta-drop", popPass)
	srv.AddUser("gamma-drop", popPass)
	for _, acc := range []struct{ id, desc, domain, user string }{
		{"alpha", "Alpha mailbox", "example.com", popUser},
		{"beta", "Beta mailbox", "example.com", "beta-drop"},
		{"gamma", "Gamma mailbox", "example.net", "gamma-drop"},
	} {
		wd.click(wd.find("#btn-new"))
		wd.waitFor("#account-form")
		wd.typeInto(`[name="ID"]`, acc.id)
		wd.typeInto(`[name="Description"]`, acc.desc)
		wd.typeInto(`[name="Host"]`, e.host)
		wd.typeInto(`[name="Port"]`, strconv.Itoa(e.port))
		wd.typeInto(`[name="Domain"]`, acc.domain)
		wd.setValue(`[name="TLS.RootCAs"]`, string(srv.CAPEM()))
		wd.typeInto(`[name="Auth.User"]`, acc.user)
		wd.typeInto(`[name="Auth.Secret"]`, popPass)
		wd.click(wd.find(`[name="Auth.Mechanism"] option[value="user"]`))
		wd.click(wd.find("#btn-save"))
		wd.waitFor(`#accounts tr[data-id="` + acc.id + `"]`)
	}
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.rowIDs())
	stored, err := e.store.Get(t.Context(), "gamma")
	require.NoError(t, err)
	assert.Equal(t, popPass, stored.Auth.Secret)
	assert.Equal(t, account.MechanismUser, stored.Auth.Mechanism)

	// For Domain.
	wd.click(wd.find(`#domain-filter option[value="example.net"]`))
	wd.waitUntil("the example.net view", func() bool { return strings.Contains(wd.url(), "domain=example.net") })
	assert.Equal(t, []string{"gamma"}, wd.rowIDs())
	wd.click(wd.find(`#domain-filter option[value=""]`))
	wd.waitUntil("all domains", func() bool { return len(wd.rowIDs()) == 3 })

	// Selection: click, Shift-click a range, Ctrl-click to add and remove.
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
	wd.modClick(keyControl, wd.row("alpha"))
	assert.Equal(t, []string{"alpha", "beta"}, wd.selected())
	assert.True(t, wd.enabled("#btn-delete"))
	assert.True(t, wd.enabled("#btn-check"))

	// Edit by double-click; a validation error shows next to its field.
	wd.doubleClick(wd.row("beta"))
	wd.waitFor("#account-form")
	assert.Equal(t, "Edit POP Account", wd.title())
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
	wd.waitFor(`#accounts tr[data-id="beta"]`)
	assert.Contains(t, wd.text(wd.find(`#accounts tr[data-id="beta"]`)), "Beta edited")
	stored, _ = e.store.Get(t.Context(), "beta")
	assert.Equal(t, popPass, stored.Auth.Secret, "the stored password was kept")

	// Check Now on two rows; the results show above the list.
	wd.click(wd.row("alpha"))
	wd.modClick(keyControl, wd.row("beta"))
	wd.click(wd.find("#btn-check"))
	wd.waitFor("#check-results")
	results := wd.text(wd.find("#check-results"))
	assert.Contains(t, results, "alpha: ok: 2 messages, 1 delivery, 1 dropped, 0 kept")
	assert.Contains(t, results, "beta: ok: 0 messages")
	assert.NotContains(t, wd.source(), "<script>alert")

	shot := wd.screenshot(t, "admin-list.png")
	t.Log("screenshot of the list page:", shot)

	wd.click(wd.find(`#check-results li[data-id="alpha"] a`))
	wd.waitFor("#report-summary")
	page := wd.text(wd.find("main"))
	assert.Contains(t, page, "Recipients: alice@example.com")
	assert.Contains(t, page, "nobody@example.com (To): unknown")
	assert.Contains(t, page, "alice@example.com: delivered")
	wd.navigate(base)

	// Delete two rows: cancelling the confirmation deletes nothing.
	wd.click(wd.row("alpha"))
	wd.modClick(keyShift, wd.row("beta"))
	wd.click(wd.find("#btn-delete"))
	assert.Contains(t, wd.alertText(), "Delete 2 accounts (alpha, beta)?")
	wd.alert("dismiss")
	assert.Equal(t, []string{"alpha", "beta", "gamma"}, wd.rowIDs())
	accs, err := e.store.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	assert.Len(t, accs, 3)
	wd.click(wd.find("#btn-delete"))
	wd.alert("accept")
	wd.waitUntil("the deletion", func() bool { return len(wd.rowIDs()) == 1 })
	assert.Equal(t, []string{"gamma"}, wd.rowIDs())
	accs, _ = e.store.List(t.Context(), account.Filter{})
	require.Len(t, accs, 1)
	assert.Equal(t, "gamma", accs[0].ID)
	assert.NotContains(t, e.log.String(), popPass)
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
	return wd.find(`#accounts tr[data-id="` + id + `"] td:nth-child(4)`)
}

func (wd *webDriver) rowIDs() []string {
	var ids []string
	for _, el := range wd.findAll("#accounts tbody tr[data-id]") {
		var v string
		wd.call(http.MethodGet, "/element/"+el+"/attribute/data-id", nil, &v)
		ids = append(ids, v)
	}
	return ids
}

func (wd *webDriver) selected() []string {
	var ids []string
	for _, el := range wd.findAll("#accounts tbody tr.selected") {
		var v string
		wd.call(http.MethodGet, "/element/"+el+"/attribute/data-id", nil, &v)
		ids = append(ids, v)
	}
	return ids
}

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

func (wd *webDriver) alertText() string {
	wd.t.Helper()
	var s string
	wd.waitUntil("the confirmation dialog", func() bool { return wd.try(http.MethodGet, "/alert/text", nil, &s) == nil })
	return s
}

// alert accepts or dismisses the open dialog.
func (wd *webDriver) alert(how string) {
	wd.alertText()
	wd.call(http.MethodPost, "/alert/"+how, nil, nil)
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
