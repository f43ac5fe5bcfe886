package account_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

func TestTimeoutsJSON(t *testing.T) {
	all := account.Timeouts{
		Dial: 10 * time.Second, Command: time.Minute, Data: 90 * time.Second, Message: time.Hour,
		MinRate: 2048, RateWindow: 30 * time.Second, Session: 4 * time.Hour, Window: 8, MaxListing: 1000,
	}
	tests := []struct {
		name string
		in   string
		want account.Timeouts
		err  string
	}{
		{name: "duration strings", in: `{"dial":"10s","command":"1m","data":"1m30s","message":"1h","min_rate":2048,"rate_window":"30s","session":"4h","window":8,"max_listing":1000}`, want: all},
		{name: "nanoseconds as older files wrote them", in: `{"dial":10000000000,"command":60000000000,"data":90000000000}`,
			want: account.Timeouts{Dial: 10 * time.Second, Command: time.Minute, Data: 90 * time.Second}},
		{name: "empty", in: `{}`},
		{name: "negative min rate turns the floor off", in: `{"min_rate":-1}`, want: account.Timeouts{MinRate: -1}},
		{name: "bad duration", in: `{"command":"10 s"}`, err: "command"},
		{name: "unknown key", in: `{"comand":"10s"}`, err: "comand"},
		{name: "fraction of nanoseconds", in: `{"dial":1.5}`, err: "dial"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got account.Timeouts
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("written as strings and read back", func(t *testing.T) {
		b, err := json.Marshal(account.Account{ID: "a", Timeouts: all})
		require.NoError(t, err)
		assert.Contains(t, string(b), `"timeouts":{"dial":"10s","command":"1m0s","data":"1m30s","message":"1h0m0s","min_rate":2048,"rate_window":"30s","session":"4h0m0s","window":8,"max_listing":1000}`)
		var back account.Account
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, all, back.Timeouts)
	})
	t.Run("zero is written empty", func(t *testing.T) {
		b, err := json.Marshal(account.Timeouts{})
		require.NoError(t, err)
		assert.JSONEq(t, `{}`, string(b))
	})
}
