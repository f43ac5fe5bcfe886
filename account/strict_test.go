package account_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

func TestCheckKeys(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"id":"a","host":"h","retrieval":{"leave_on_server":true}}`, ""},
		{`{"ID":"a","Retrieval":{"Leave_On_Server":true}}`, ""}, // encoding/json ignores case
		{`{"id":"a","retrieval":{"leave_on_sever":true}}`, "retrieval.leave_on_sever"},
		{`{"resolving":{"aliases":{"sales":["a"]},"rules":[{"match":"equals"},{"patern":"x"}]}}`, "resolving.rules[1].patern"},
		{`{"tls":{"pin_sha256":["ab"],"root_cas_file":"/x"},"zzz":1}`, "zzz"},
		{`{"policy":{"loop":"keep","lop":1}}`, "policy.lop"},
		{`[1,2]`, ""}, // a type error is the decoder's to report
		{`{not json`, ""},
	} {
		err := account.CheckKeys([]byte(tc.doc), &account.Account{})
		if tc.want == "" {
			assert.NoError(t, err, tc.doc)
			continue
		}
		var uk *account.UnknownKeyError
		require.ErrorAs(t, err, &uk, tc.doc)
		assert.Equal(t, tc.want, uk.Path)
	}
}
