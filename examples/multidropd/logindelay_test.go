package main

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
)

// startPOP starts srv with user "box" holding msgs and returns an account
// for it (plaintext on loopback).
func startPOP(t *testing.T, srv *poptest.Server, id string, msgs ...[]byte) account.Account {
	t.Helper()
	srv.Start(t)
	var pm []poptest.Message
	for i, m := range msgs {
		pm = append(pm, poptest.Message{UID: "u" + strconv.Itoa(i+1), Data: m})
	}
	srv.AddUser("box", "pw", pm...)
	host, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return account.Account{
		ID: id, Enabled: true, Host: host, Port: n, Domain: "example.com",
		Security: account.SecurityNone,
		Auth:     account.Auth{User: "box", Secret: "pw", Mechanism: account.MechanismUser, AllowInsecure: true},
	}
}

// latest returns the newest check record of id.
func latest(t *testing.T, d *Daemon, id string) account.CheckRecord {
	t.Helper()
	recs, err := d.history.Checks(t.Context(), id, 1)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	return recs[0]
}

// TestOnceLoginDelay: a first -once run logs in and records the server's
// LOGIN-DELAY; a second run right after does not connect, says in its
// summary until when it deferred the account, and exits 0; a restarted
// daemon over the same SQLite store respects it, for -check and for a
// check the Pipeline starts (the schedule's, Check Now's); once the time
// has passed, the account is checked again.
func TestOnceLoginDelay(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	var logs bytes.Buffer
	d := openDaemon(t, path, &logs)
	_, ok := d.gate(d.store).(account.Scheduler)
	require.True(t, ok, "the gate keeps the store's shared schedule")
	_, ok = d.gate(account.NewMemoryStore()).(account.Scheduler)
	require.False(t, ok)
	srv := &poptest.Server{LoginDelay: 900}
	a := startPOP(t, srv, "acct", msg("alice@example.com", "", "first"))
	_, err := d.Store().Put(t.Context(), a)
	require.NoError(t, err)

	var out bytes.Buffer
	before := time.Now()
	require.Equal(t, ExitOK, d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true}), out.String())
	assert.Contains(t, out.String(), "1 account checked: 1 ok, 0 failed, 0 busy\n")
	require.Equal(t, 1, srv.Sessions())
	next := latest(t, d, "acct").NextLogin
	assert.False(t, next.Before(before.Add(15*time.Minute)), "next login %v", next)
	assert.False(t, next.After(time.Now().Add(15*time.Minute)), "next login %v", next)

	srv.AddMessages("box", poptest.Message{UID: "u2", Data: msg("bob@example.com", "", "second")})
	out.Reset()
	logs.Reset()
	assert.Equal(t, ExitOK, d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true}), out.String())
	assert.Equal(t, 1, srv.Sessions(), "the second run does not connect")
	assert.Len(t, srv.Mailbox("box"), 1, "u2 stays until the next allowed login")
	assert.Contains(t, out.String(), "1 account checked: 0 ok, 0 failed, 0 busy, 1 deferred by LOGIN-DELAY until "+next.Local().Format("15:04")+"\n")
	assert.Regexp(t, `(?m)^\s*acct\s+deferred`, out.String())
	assert.Contains(t, out.String(), "account acct: not checked: next login allowed at "+next.UTC().Format("2006-01-02 15:04:05 UTC"))
	assert.Equal(t, 1, len(mustChecks(t, d, "acct")), "a deferral records no check")

	// Off a terminal: logged, with the count in the round's record.
	assert.Equal(t, ExitOK, d.Once(t.Context(), "acct", &Env{Stdout: &out, Stderr: &out}))
	assert.Contains(t, logs.String(), `"msg":"account not checked: next login allowed at `+next.UTC().Format("2006-01-02 15:04:05 UTC")+`","account":"acct"`)
	assert.Contains(t, logs.String(), `"msg":"round finished","accounts":1,"failed":0,"busy":0,"kept_temporary":0,"deferred":1,"deferred_until":"`)
	require.NoError(t, d.Close())

	// A restart over the same store respects it.
	var logs2 bytes.Buffer
	d2 := openDaemon(t, path, &logs2)
	out.Reset()
	assert.Equal(t, ExitOK, d2.Once(t.Context(), "acct", &Env{Stdout: &out, Stderr: &out, Terminal: true}))
	assert.Contains(t, out.String(), "1 deferred by LOGIN-DELAY")
	p, _ := d2.Pipeline()
	r, err := p.Check(t.Context(), "acct")
	assert.Nil(t, r)
	assert.ErrorIs(t, err, pop.ErrLoginDelay)
	until, ok := deferredUntil(err)
	assert.True(t, ok)
	assert.True(t, until.Equal(next))
	assert.Equal(t, 1, srv.Sessions())

	// Time passes (a newer record whose constraint is over): checked again.
	require.NoError(t, d2.history.AddCheck(t.Context(), account.CheckRecord{
		AccountID: "acct", Start: time.Now(), NextLogin: time.Now().Add(-time.Second), State: "ok"}))
	assert.Equal(t, ExitOK, d2.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out}), logs2.String())
	assert.Equal(t, 2, srv.Sessions())
	assert.Empty(t, srv.Mailbox("box"))
}

func mustChecks(t *testing.T, d *Daemon, id string) []account.CheckRecord {
	t.Helper()
	recs, err := d.history.Checks(t.Context(), id, 0)
	require.NoError(t, err)
	return recs
}

// TestOnceLoginDelayRefusal: a [LOGIN-DELAY] refusal fails the run and
// records the server's next allowed login, which the next run respects;
// an [IN-USE] refusal records none: the next run connects again.
func TestOnceLoginDelayRefusal(t *testing.T) {
	for _, tc := range []struct {
		code     string
		deferred bool
	}{{"LOGIN-DELAY", true}, {"IN-USE", false}} {
		t.Run(tc.code, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), nil)
			var logs bytes.Buffer
			d := openDaemon(t, path, &logs)
			f := poptest.ErrReply("PASS", tc.code, "not now")
			f.Session = 1
			srv := &poptest.Server{LoginDelay: 600, Faults: []poptest.Fault{f}}
			a := startPOP(t, srv, "acct", msg("alice@example.com", "", "one"))
			_, err := d.Store().Put(t.Context(), a)
			require.NoError(t, err)

			var out bytes.Buffer
			assert.Equal(t, ExitFailed, d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out}), logs.String())
			require.Equal(t, 1, srv.Sessions())
			rec := latest(t, d, "acct")
			assert.Equal(t, "failed", rec.State)

			code := d.Once(t.Context(), "", &Env{Stdout: &out, Stderr: &out, Terminal: true})
			assert.Equal(t, ExitOK, code, out.String())
			if tc.deferred {
				assert.False(t, rec.NextLogin.IsZero(), "the refusal's next login is kept")
				assert.Equal(t, 1, srv.Sessions(), "no login before the server allows it")
				assert.Contains(t, out.String(), "1 deferred by LOGIN-DELAY until "+rec.NextLogin.Local().Format("15:04"))
				assert.Len(t, srv.Mailbox("box"), 1)
			} else {
				assert.True(t, rec.NextLogin.IsZero(), "IN-USE is no login delay: %v", rec.NextLogin)
				assert.Equal(t, 2, srv.Sessions(), "IN-USE is retried at once")
				assert.Contains(t, out.String(), "1 account checked: 1 ok, 0 failed, 0 busy\n")
				assert.Empty(t, srv.Mailbox("box"))
			}
		})
	}
}

func TestSummaryDeferred(t *testing.T) {
	until := time.Date(2026, 12, 4, 15, 4, 0, 0, time.Local)
	s := Summary{Accounts: 3, Failed: 1, Deferred: 2, DeferredUntil: until}
	assert.Equal(t, "3 accounts checked: 0 ok, 1 failed, 0 busy, 2 deferred by LOGIN-DELAY until 15:04", s.String())
	assert.Equal(t, ExitFailed, s.ExitStatus())
	s.Failed = 0
	assert.Equal(t, ExitOK, s.ExitStatus(), "a deferral is no failure")
}
