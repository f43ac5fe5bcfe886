package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

// FuzzValidate checks that Validate never panics, that a CR, LF or NUL in
// any of the fuzzed fields is always reported against that field, and that
// no error message ever contains the secret.
func FuzzValidate(f *testing.F) {
	f.Add("pop.example.com", "example.com", "mail.example.com", "user", "s3cret-value", `^news-.*`, "sales", 995)
	f.Add("bücher.example", "xn--bcher-kva.example", "", "u\r\nQUIT", "pw", "(", "a\x00", -1)
	f.Fuzz(func(t *testing.T, host, domain, extra, user, secret, pattern, alias string, port int) {
		a := accounttest.Sample("example.com")
		a.Host, a.Domain, a.Port = host, domain, port
		a.ExtraDomains = []string{extra}
		a.Auth.User, a.Auth.Secret = user, secret
		a.Resolving.Rules[0].Pattern = pattern
		a.Resolving.Aliases[alias] = []string{"x"}
		err := a.Validate()
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "account: "))
			var ve *account.ValidationError
			require.True(t, errors.As(err, &ve))
			others := host + domain + extra + user + pattern + alias + accounttest.Sample("example.com").String()
			if len(secret) >= 6 && !strings.Contains(others, secret) && strings.Contains(err.Error(), secret) {
				t.Fatalf("error message shows the secret: %v", err)
			}
		}
		bad := func(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }
		for field, value := range map[string]string{
			"Host": host, "Domain": domain, "ExtraDomains[0]": extra, "Auth.User": user,
			"Auth.Secret": secret, "Resolving.Rules[0].Pattern": pattern,
		} {
			if bad(value) {
				require.Error(t, err)
				msg := err.Error()
				assert.True(t, strings.Contains(msg, field+": contains") || strings.Contains(msg, field+": is not valid UTF-8"),
					"field %s not reported: %s", field, msg)
			}
		}
	})
}
