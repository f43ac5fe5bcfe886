package jsonstore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/jsonstore"
)

func openStore(t *testing.T, path string) *jsonstore.Store {
	t.Helper()
	s, err := jsonstore.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestStore(t *testing.T) {
	accounttest.TestStore(t, func(t *testing.T) account.MutableStore {
		return openStore(t, filepath.Join(t.TempDir(), "accounts.json"))
	})
}

func TestJournal(t *testing.T) {
	accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal {
		j, err := jsonstore.OpenJournal(filepath.Join(t.TempDir(), "journal.json"), &jsonstore.Options{Now: now})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, j.Close()) })
		return j
	})
}

func TestFileModeAndNoLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "accounts.json")
	s := openStore(t, path)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "Open alone creates no data file")
	for range 3 {
		_, err := s.Put(t.Context(), accounttest.Sample("example.com"))
		require.NoError(t, err)
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	lfi, err := os.Stat(path + ".lock")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), lfi.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"accounts.json", "accounts.json.lock"}, names, "no temporary file is left")

	var doc map[string]any
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.EqualValues(t, 1, doc["version"])
}

func TestCorruptFileIsLeftUntouched(t *testing.T) {
	for _, content := range []string{"{not json", `{"version":1,"accounts":[]} trailing`, `{"version":99,"accounts":[]}`, `{"version":1,"accounts":"x"}`, "null", ""} {
		t.Run(content, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "accounts.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := jsonstore.Open(path, nil)
			var ce *jsonstore.CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, path, ce.Path)

			jpath := filepath.Join(dir, "journal.json")
			require.NoError(t, os.WriteFile(jpath, []byte(content), 0o600))
			_, err = jsonstore.OpenJournal(jpath, nil)
			require.ErrorAs(t, err, &ce)

			for _, p := range []string{path, jpath} {
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.Equal(t, content, string(data))
			}
		})
	}
}

func TestCorruptionAfterOpenFailsClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.json")
	j, err := jsonstore.OpenJournal(path, nil)
	require.NoError(t, err)
	defer j.Close()
	ctx := t.Context()
	require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: time.Now()}))
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o600))

	var ce *jsonstore.CorruptError
	_, err = j.Delivered(ctx, "a", "u1")
	assert.ErrorAs(t, err, &ce, "a corrupt journal is an error, not an empty journal")
	_, err = j.Sync(ctx, "a", []string{"u1"}, time.Now())
	assert.ErrorAs(t, err, &ce)
	assert.ErrorAs(t, j.Record(ctx, "a", account.Record{Key: "u2", Rcpts: []string{"y@example.com"}, At: time.Now()}), &ce)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "garbage", string(data))
}

func TestReloadsChangesOfAnotherHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	a := openStore(t, path)
	b := openStore(t, path)
	ctx := t.Context()
	x, err := a.Put(ctx, accounttest.Sample("example.com"))
	require.NoError(t, err)
	got, err := b.Get(ctx, x.ID)
	require.NoError(t, err, "b sees a's write")
	assert.Equal(t, x, got)
	y, err := b.Put(ctx, accounttest.Sample("example.org"))
	require.NoError(t, err)
	list, err := a.List(ctx, account.Filter{})
	require.NoError(t, err)
	assert.Len(t, list, 2, "a sees b's write and b did not lose a's")
	require.NoError(t, a.Delete(ctx, y.ID))
	_, err = b.Get(ctx, y.ID)
	assert.ErrorIs(t, err, account.ErrNotFound)
}

func TestLockRespectsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	s := openStore(t, path)
	// Hold the lock from another open file description.
	lf, err := os.OpenFile(path+".lock", os.O_RDWR, 0)
	require.NoError(t, err)
	defer lf.Close()
	require.NoError(t, flock(lf))
	ctx, cancel := contextWithTimeout(t, 50*time.Millisecond)
	defer cancel()
	_, err = s.Put(ctx, accounttest.Sample("example.com"))
	assert.ErrorIs(t, err, ctx.Err())
	require.NoError(t, funlock(lf))
	_, err = s.Put(t.Context(), accounttest.Sample("example.com"))
	assert.NoError(t, err)
}

const childEnv = "MULTIDROP_JSONSTORE_CHILD"

// TestChildProcess is the second process of TestTwoProcessesDoNotLoseWrites.
func TestChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestTwoProcessesDoNotLoseWrites")
	}
	s, err := jsonstore.Open(path, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	defer s.Close()
	for i := range perProcess {
		a := accounttest.Sample("example.com")
		a.ID = fmt.Sprintf("child-%02d", i)
		if _, err := s.Put(t.Context(), a); err != nil {
			fmt.Println("error", err)
			os.Exit(4)
		}
	}
	fmt.Println("ok")
}

const perProcess = 30

func TestTwoProcessesDoNotLoseWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	s := openStore(t, path)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	for i := range perProcess {
		a := accounttest.Sample("example.com")
		a.ID = fmt.Sprintf("parent-%02d", i)
		_, err := s.Put(t.Context(), a)
		require.NoError(t, err)
	}
	require.NoError(t, cmd.Wait(), out.String())
	require.Contains(t, out.String(), "ok")
	all, err := s.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	assert.Len(t, all, 2*perProcess, "every write of both processes is in the file")
}

func openLocker(t *testing.T, dir string, now func() time.Time) *jsonstore.Locker {
	t.Helper()
	l, err := jsonstore.OpenLocker(filepath.Join(dir, "leases.json"), &jsonstore.Options{Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	return l
}

func TestLocker(t *testing.T) {
	accounttest.TestLocker(t, func(t *testing.T, now func() time.Time) account.Locker {
		return openLocker(t, t.TempDir(), now)
	})
}

func TestFencing(t *testing.T) {
	accounttest.TestFencing(t, func(t *testing.T, now func() time.Time) (account.Locker, account.Fencer) {
		dir := t.TempDir()
		j, err := jsonstore.OpenJournal(filepath.Join(dir, "journal.json"), &jsonstore.Options{Now: now})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, j.Close()) })
		return openLocker(t, dir, now), j
	})
}

func TestLockerAcrossHandles(t *testing.T) {
	dir := t.TempDir()
	a, b := openLocker(t, dir, nil), openLocker(t, dir, nil)
	ctx := t.Context()
	l, err := a.Acquire(ctx, "acct", "one", time.Hour)
	require.NoError(t, err)
	_, err = b.Acquire(ctx, "acct", "two", time.Hour)
	assert.ErrorIs(t, err, account.ErrLeaseHeld)
	require.NoError(t, l.Release(ctx))
	l2, err := b.Acquire(ctx, "acct", "two", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, l.Token()+1, l2.Token())
}

// A journal written by release 1 (format version 1, final marks and
// notices as marker recipients) opens with typed states, and its next
// write stores the current format version (3) without markers.
func TestOpensRelease1Journal(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "release1-journal.json"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "journal.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	j, err := jsonstore.OpenJournal(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, j.Close()) })
	accounttest.TestRelease1Upgrade(t, j)

	out, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Version  int `json:"version"`
		Accounts map[string]struct {
			Deliveries map[string][]string `json:"deliveries"`
		} `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	assert.Equal(t, 3, doc.Version)
	for key, rcpts := range doc.Accounts["acct"].Deliveries {
		for _, r := range rcpts {
			assert.NotContains(t, []string{"", "!oversize-notice", "!foreign-notice"}, r, key)
		}
	}
}

func TestHistory(t *testing.T) {
	accounttest.TestHistory(t, func(t *testing.T) account.History {
		h, err := jsonstore.OpenHistory(filepath.Join(t.TempDir(), "history.json"), nil)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, h.Close()) })
		return h
	})
}

func TestJournalRetention(t *testing.T) {
	accounttest.TestJournalRetention(t, func(t *testing.T, now func() time.Time) (account.MutableStore, account.Journal) {
		dir := t.TempDir()
		j, err := jsonstore.OpenJournal(filepath.Join(dir, "journal.json"), &jsonstore.Options{Now: now})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, j.Close()) })
		s, err := jsonstore.Open(filepath.Join(dir, "accounts.json"), &jsonstore.Options{Now: now, Journal: j})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Close()) })
		return s, j
	})
}

// TestHandWrittenFileIsVetted: the accounts file is checked when it is
// loaded, like the configuration file.
func TestHandWrittenFileIsVetted(t *testing.T) {
	good := accounttest.Sample("example.com")
	good.ID = "b"
	other := accounttest.Sample("example.org")
	other.ID = "a"
	doc := func(t *testing.T, edit func(accs []map[string]any)) string {
		var accs []map[string]any
		for _, a := range []account.Account{good, other} {
			data, err := json.Marshal(a)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(data, &m))
			accs = append(accs, m)
		}
		edit(accs)
		data, err := json.Marshal(map[string]any{"version": 1, "accounts": accs})
		require.NoError(t, err)
		return string(data)
	}
	for _, tc := range []struct {
		name string
		edit func(accs []map[string]any)
		want string // in the error; "" means the file loads
	}{
		{"valid and unsorted", func([]map[string]any) {}, ""},
		{"typo in a nested key", func(accs []map[string]any) {
			accs[1]["retrieval"].(map[string]any)["leave_on_sever"] = true
		}, "accounts[1].retrieval.leave_on_sever"},
		{"unknown top-level key of an account", func(accs []map[string]any) { accs[0]["hostname"] = "x" }, "accounts[0].hostname"},
		{"unknown key in a rule", func(accs []map[string]any) {
			accs[0]["resolving"].(map[string]any)["rules"].([]any)[1].(map[string]any)["actoin"] = "deny"
		}, "accounts[0].resolving.rules[1].actoin"},
		{"secret with a line break", func(accs []map[string]any) {
			accs[1]["auth"].(map[string]any)["secret"] = "pass\r\nDELE 1"
		}, "Auth.Secret"},
		{"secret with NUL", func(accs []map[string]any) {
			accs[0]["auth"].(map[string]any)["secret"] = "pa\x00ss"
		}, "Auth.Secret"},
		{"id ..", func(accs []map[string]any) { accs[0]["id"] = ".." }, "ID"},
		{"no id", func(accs []map[string]any) { delete(accs[0], "id") }, "accounts[0]: no id"},
		{"repeated id", func(accs []map[string]any) { accs[1]["id"] = "b" }, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "accounts.json")
			content := doc(t, tc.edit)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			s, err := jsonstore.Open(path, nil)
			if tc.want == "" {
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, s.Close()) })
				all, err := s.List(t.Context(), account.Filter{})
				require.NoError(t, err)
				assert.Equal(t, []string{"a", "b"}, []string{all[0].ID, all[1].ID})
				got, err := s.Get(t.Context(), "a")
				require.NoError(t, err, "lookups work on a file not sorted by ID")
				assert.Equal(t, "example.org", got.Domain)
				return
			}
			var ce *jsonstore.CorruptError
			require.ErrorAs(t, err, &ce)
			assert.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), "DELE", "the secret is not echoed")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, content, string(data), "the file is left as it is")
		})
	}
}

// A journal of format version 2 (before the deletion guard's state) opens
// with its states and no guard state, and its next write stores version 3
// with the guard.
func TestOpensVersion2Journal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version": 2, "accounts": {"acct": {
		"deliveries": {"u1": ["alice@example.com"]}, "final": {"u1": true}}}}`), 0o600))
	j, err := jsonstore.OpenJournal(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, j.Close()) })
	ctx := t.Context()
	d, err := j.Delivered(ctx, "acct", "u1")
	require.NoError(t, err)
	assert.Equal(t, account.Delivery{Rcpts: []string{"alice@example.com"}, Final: true}, d)
	g, err := j.Guard(ctx, "acct")
	require.NoError(t, err)
	assert.True(t, g.IsZero())

	tripped := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, j.SetGuard(ctx, "acct", account.Guard{Window: []account.Examined{{Key: "u2", NoRecipient: true}}, Tripped: tripped}))
	out, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Version  int `json:"version"`
		Accounts map[string]struct {
			Final map[string]bool `json:"final"`
			Guard *account.Guard  `json:"guard"`
		} `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	assert.Equal(t, 3, doc.Version)
	assert.Equal(t, map[string]bool{"u1": true}, doc.Accounts["acct"].Final)
	require.NotNil(t, doc.Accounts["acct"].Guard)
	assert.Equal(t, []account.Examined{{Key: "u2", NoRecipient: true}}, doc.Accounts["acct"].Guard.Window)
	assert.True(t, tripped.Equal(doc.Accounts["acct"].Guard.Tripped))
}

// ReadAccounts reads what the store writes, deleted-account records
// included (the import of a store's own file), and vets it as Open does.
func TestReadAccounts(t *testing.T) {
	dir := t.TempDir()
	j, err := jsonstore.OpenJournal(filepath.Join(dir, "journal.json"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, j.Close()) })
	path := filepath.Join(dir, "accounts.json")
	s, err := jsonstore.Open(path, &jsonstore.Options{Journal: j})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	for _, d := range []string{"example.com", "example.org"} {
		_, err := s.Create(t.Context(), accounttest.Sample(d))
		require.NoError(t, err)
	}
	all, err := s.List(t.Context(), account.Filter{})
	require.NoError(t, err)
	require.NoError(t, s.Delete(t.Context(), all[0].ID))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(data), `"deleted"`, "the file keeps a deleted-account record")

	got, err := jsonstore.ReadAccounts(data)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, all[1].ID, got[0].ID)

	_, err = jsonstore.ReadAccounts([]byte(`{"accounts": []}`))
	assert.ErrorContains(t, err, `want "version": 1`)
	_, err = jsonstore.ReadAccounts([]byte(`{"version": 1, "accounts": [{"id": "a", "leave_on_sever": true}]}`))
	assert.ErrorContains(t, err, "accounts[0].leave_on_sever")
}
