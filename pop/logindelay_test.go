package pop

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

func TestScanLoginDelay(t *testing.T) {
	tests := []struct {
		name         string
		delay, after int
		want         time.Duration
	}{
		{"before and after login", 900, 0, 900 * time.Second},
		{"the value after login wins", 300, 600, 600 * time.Second},
		{"before login only", 300, -1, 300 * time.Second},
		{"after login only", 0, 600, 600 * time.Second},
		{"none", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &poptest.Server{LoginDelay: tc.delay, LoginDelayAfter: tc.after}, messages([]byte("1\r\n"))...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
			var scan Scan
			before := time.Now()
			require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, planner{steps: func(sc Scan) []Step { scan = sc; return nil }}))
			assert.Equal(t, tc.want, scan.LoginDelay)
			require.False(t, scan.LoggedIn.IsZero())
			assert.False(t, scan.LoggedIn.Before(before))
			if tc.want == 0 {
				assert.True(t, scan.NextLogin().IsZero())
			} else {
				assert.Equal(t, scan.LoggedIn.Add(tc.want), scan.NextLogin())
			}
			assertConnsClosed(t)
		})
	}
}

func TestLoginRefusals(t *testing.T) {
	tests := []struct {
		name      string
		delay     int
		code      string
		loginWait bool // ErrLoginDelay
		inUse     bool
		wantDelay time.Duration
	}{
		{name: "LOGIN-DELAY with the CAPA value", delay: 900, code: "LOGIN-DELAY", loginWait: true, wantDelay: 900 * time.Second},
		{name: "LOGIN-DELAY without a CAPA value", code: "LOGIN-DELAY", loginWait: true},
		{name: "IN-USE", delay: 900, code: "IN-USE", inUse: true},
		{name: "no code", delay: 900},
	}
	for _, tc := range tests {
		for _, mech := range []account.Mechanism{account.MechanismUser, account.MechanismPlain} {
			t.Run(tc.name+" "+string(mech), func(t *testing.T) {
				verb := "PASS"
				if mech == account.MechanismPlain {
					verb = "AUTH"
				}
				s := startServer(t, &poptest.Server{LoginDelay: tc.delay, Faults: []poptest.Fault{poptest.ErrReply(verb, tc.code, "not now")}},
					messages([]byte("1\r\n"))...)
				a := testAccount(t, s, account.SecurityStartTLS, mech)
				before := time.Now()
				err := (&Downloader{}).Fetch(t.Context(), a, &collector{action: Delete})
				var pe *Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, verb, pe.Command)
				assert.Equal(t, tc.loginWait, errors.Is(err, ErrLoginDelay))
				assert.Equal(t, tc.inUse, errors.Is(err, ErrInUse))
				assert.True(t, pe.Temporary())
				next, ok := NextLogin(err)
				if tc.wantDelay == 0 {
					assert.False(t, ok)
					assert.Zero(t, pe.LoginDelay)
					assert.True(t, pe.NextLogin.IsZero())
					return
				}
				require.True(t, ok)
				assert.Equal(t, tc.wantDelay, pe.LoginDelay)
				assert.Equal(t, pe.NextLogin, next)
				assert.False(t, next.Before(before.Add(tc.wantDelay)))
				assertConnsClosed(t)
			})
		}
	}
}
