package sqlstore_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// TestReleaseGone: a starting instance releases the leases of its host's
// dead processes, and the shared schedule then claims those accounts at
// once; leases of live processes and of other hosts stay.
func TestReleaseGone(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			clk := &clock{}
			s := open(t, clk.Now)
			ctx := t.Context()
			me := account.ProcessOwner()
			host, _, _ := strings.Cut(me, ":")
			tag := me[strings.LastIndexByte(me, ':')+1:]
			const deadPid = "2147483647" // above any pid_max
			holders := map[string]string{
				"dead":  host + ":" + deadPid + ":" + tag,
				"live":  host + ":" + strconv.Itoa(os.Getppid()) + ":" + tag,
				"other": "other-" + host + ":" + deadPid + ":" + tag,
			}
			for id, owner := range holders {
				put(t, s, id, true)
				_, err := s.Acquire(ctx, id, owner, time.Minute)
				require.NoError(t, err)
			}
			ids, _ := claimIDs(t, s, me, 10)
			require.Empty(t, ids, "every account is leased")

			n, err := s.ReleaseGone(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			ids, _ = claimIDs(t, s, me, 10)
			assert.Equal(t, []string{"dead"}, ids, "the dead process's account is claimed at once")
			n, err = s.ReleaseGone(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "the new holder is alive")
		})
	}
}
