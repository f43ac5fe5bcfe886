package multidrop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/pop/poptest"
)

// TestReportNextLogin: Report.NextLogin is the login plus the server's
// LOGIN-DELAY after a session, what a [LOGIN-DELAY] refusal says (at least
// five minutes when the server announced no delay), and zero after an
// [IN-USE] refusal or from a server without LOGIN-DELAY.
func TestReportNextLogin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		srv   *poptest.Server
		delay time.Duration // NextLogin - the check's real time; 0: zero
		fixed time.Duration // NextLogin - the Pipeline's clock; 0: n/a
	}{
		{name: "none", srv: &poptest.Server{}},
		{name: "session", srv: &poptest.Server{LoginDelay: 600}, delay: 10 * time.Minute},
		{name: "after login", srv: &poptest.Server{LoginDelay: 60, LoginDelayAfter: 900}, delay: 15 * time.Minute},
		{name: "refused", srv: &poptest.Server{LoginDelay: 600, Faults: []poptest.Fault{poptest.ErrReply("PASS", "LOGIN-DELAY", "too soon")}}, delay: 10 * time.Minute},
		{name: "refused without delay", srv: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("PASS", "LOGIN-DELAY", "too soon")}}, fixed: 5 * time.Minute},
		{name: "in use", srv: &poptest.Server{LoginDelay: 600, Faults: []poptest.Fault{poptest.ErrReply("PASS", "IN-USE", "locked")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.srv, nil)
			before := time.Now()
			r := e.check()
			after := time.Now()
			switch {
			case tc.fixed > 0:
				require.Error(t, r.Err)
				assert.Equal(t, e.now.Add(tc.fixed), r.NextLogin)
			case tc.delay > 0:
				assert.False(t, r.NextLogin.Before(before.Add(tc.delay)), "NextLogin %v", r.NextLogin)
				assert.False(t, r.NextLogin.After(after.Add(tc.delay)), "NextLogin %v", r.NextLogin)
			default:
				assert.True(t, r.NextLogin.IsZero(), "NextLogin %v, err %v", r.NextLogin, r.Err)
			}
		})
	}
}
