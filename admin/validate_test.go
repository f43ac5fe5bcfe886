package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// validationCases are form edits of a valid account and the field each
// error is shown next to (Field) with the store's full field path (Path).
// Every check of account.Validate is here, plus the page's own parsing.
var validationCases = []struct {
	name  string
	set   map[string]string
	field string // form field showing the error
	path  string // ValidationError.Field in the API; "" for a form parsing error
	want  string // part of the reason
}{
	{"host empty", map[string]string{"Host": ""}, "Host", "Host", "is empty"},
	{"host bad", map[string]string{"Host": "bad_host!"}, "Host", "Host", "neither an IP address"},
	{"host brackets", map[string]string{"Host": "[::1]"}, "Host", "Host", "without brackets"},
	{"port range", map[string]string{"Port": "70000"}, "Port", "Port", "out of range"},
	{"port text", map[string]string{"Port": "pop3"}, "Port", "", "not a whole number"},
	{"domain empty", map[string]string{"Domain": ""}, "Domain", "Domain", "is empty"},
	{"domain bad", map[string]string{"Domain": "-bad-.example"}, "Domain", "Domain", "not a valid domain"},
	{"extra domain repeats", map[string]string{"ExtraDomains": "example.org\nEXAMPLE.com"}, "ExtraDomains", "ExtraDomains[1]", "repeats"},
	{"security unknown", map[string]string{"Security": "ssl"}, "Security", "Security", "unknown mode"},
	{"server name", map[string]string{"TLS.ServerName": "bad name"}, "TLS.ServerName", "TLS.ServerName", "not a valid host name"},
	{"root CAs", map[string]string{"TLS.RootCAs": "not pem"}, "TLS.RootCAs", "TLS.RootCAs", "no PEM CERTIFICATE"},
	{"pin", map[string]string{"TLS.PinSHA256": "abcd"}, "TLS.PinSHA256", "TLS.PinSHA256[0]", "64 hexadecimal"},
	{"client cert alone", map[string]string{"TLS.ClientCert": "x"}, "TLS.ClientKey", "TLS.ClientKey", "ClientCert is set"},
	{"client key alone", map[string]string{"TLS.ClientKey": "x"}, "TLS.ClientCert", "TLS.ClientCert", "ClientKey is set"},
	{"mechanism unknown", map[string]string{"Auth.Mechanism": "gssapi"}, "Auth.Mechanism", "Auth.Mechanism", "unknown mechanism"},
	{"user empty", map[string]string{"Auth.User": ""}, "Auth.User", "Auth.User", "is empty"},
	{"external without cert", map[string]string{"Auth.Mechanism": "external"}, "Auth.Mechanism", "Auth.Mechanism", "external needs TLS.ClientCert"},
	{"plaintext password", map[string]string{"Security": "none"}, "Auth.Mechanism", "Auth.Mechanism", "exposes the password"},
	{"proxy scheme", map[string]string{"Proxy": "http://proxy:8080"}, "Proxy", "Proxy", "not supported"},
	{"proxy port", map[string]string{"Proxy": "socks5://proxy:99999"}, "Proxy", "Proxy", "out of range"},
	{"dial timeout negative", map[string]string{"Timeouts.Dial": "-1s"}, "Timeouts.Dial", "Timeouts.Dial", "negative"},
	{"command timeout negative", map[string]string{"Timeouts.Command": "-1s"}, "Timeouts.Command", "Timeouts.Command", "negative"},
	{"data timeout negative", map[string]string{"Timeouts.Data": "-1s"}, "Timeouts.Data", "Timeouts.Data", "negative"},
	{"timeout text", map[string]string{"Timeouts.Dial": "soon"}, "Timeouts.Dial", "", "not a duration"},
	{"delete after without leave", map[string]string{"Retrieval.DeleteAfterDays": "7"}, "Retrieval.DeleteAfterDays", "Retrieval.DeleteAfterDays", "needs LeaveOnServer"},
	{"delete after negative", map[string]string{"Retrieval.DeleteAfterDays": "-1"}, "Retrieval.DeleteAfterDays", "Retrieval.DeleteAfterDays", "negative"},
	{"max size negative", map[string]string{"Retrieval.MaxMessageSize": "-1"}, "Retrieval.MaxMessageSize", "Retrieval.MaxMessageSize", "negative"},
	{"oversize without size", map[string]string{"Retrieval.Oversize": "delete"}, "Retrieval.Oversize", "Retrieval.Oversize", "no effect"},
	{"oversize notify", map[string]string{"Retrieval.Oversize": "notify", "Retrieval.MaxMessageSize": "1000"}, "Retrieval.Oversize", "Retrieval.Oversize", "needs Policy.Postmaster"},
	{"oversize unknown", map[string]string{"Retrieval.Oversize": "bounce"}, "Retrieval.Oversize", "Retrieval.Oversize", "unknown policy"},
	{"max messages negative", map[string]string{"Retrieval.MaxMessages": "-1"}, "Retrieval.MaxMessages", "Retrieval.MaxMessages", "negative"},
	{"max bytes negative", map[string]string{"Retrieval.MaxBytes": "-1"}, "Retrieval.MaxBytes", "Retrieval.MaxBytes", "negative"},
	{"interval negative", map[string]string{"Retrieval.Interval": "-5m"}, "Retrieval.Interval", "Retrieval.Interval", "negative"},
	{"mode unknown", map[string]string{"Parsing.Mode": "guess"}, "Parsing.Mode", "Parsing.Mode", "unknown mode"},
	{"envelope-only without envelope", map[string]string{"Parsing.Mode": "envelope-only", "Parsing.NoEnvelope": "on"}, "Parsing.Mode", "Parsing.Mode", "conflicts"},
	{"no stage left", map[string]string{"Parsing.NoEnvelope": "on", "Parsing.NoReceived": "on", "Parsing.NoGuess": "on"}, "", "Parsing", "no way to find"},
	{"skip received negative", map[string]string{"Parsing.SkipReceived": "-1"}, "Parsing.SkipReceived", "Parsing.SkipReceived", "negative"},
	{"envelope header name", map[string]string{"Parsing.EnvelopeHeaders": "Delivered To"}, "Parsing.EnvelopeHeaders", "Parsing.EnvelopeHeaders[0]", "not a header field name"},
	{"envelope header occurrence", map[string]string{"Parsing.EnvelopeHeaders": "Delivered-To:0"}, "Parsing.EnvelopeHeaders", "Parsing.EnvelopeHeaders[0]", "not a positive number"},
	{"extra header name", map[string]string{"Parsing.ExtraHeaders": "X-Ok\nBad:Name"}, "Parsing.ExtraHeaders", "Parsing.ExtraHeaders[1]", "not a header field name"},
	{"received by", map[string]string{"Parsing.ReceivedBy": "not a host"}, "Parsing.ReceivedBy", "Parsing.ReceivedBy[0]", "not a valid host name"},
	{"subaddress separator", map[string]string{"Resolving.SubaddressSeparator": "@"}, "Resolving.SubaddressSeparator", "Resolving.SubaddressSeparator", "must not contain @"},
	{"catch-all", map[string]string{"Resolving.CatchAll": "a b"}, "Resolving.CatchAll", "Resolving.CatchAll", "white space"},
	{"max recipients negative", map[string]string{"Resolving.MaxRecipients": "-1"}, "Resolving.MaxRecipients", "Resolving.MaxRecipients", "negative"},
	{"alias without users", map[string]string{"Resolving.Aliases": "sales:"}, "Resolving.Aliases", `Resolving.Aliases["sales"]`, "maps to no user"},
	{"alias empty", map[string]string{"Resolving.Aliases": ": alice"}, "Resolving.Aliases", `Resolving.Aliases[""]`, "empty alias"},
	{"alias syntax", map[string]string{"Resolving.Aliases": "sales alice"}, "Resolving.Aliases", "", "want alias: user"},
	{"rule syntax", map[string]string{"Resolving.Rules": "equals deliver"}, "Resolving.Rules", "", "want match action pattern"},
	{"rule match", map[string]string{"Resolving.Rules": "like deny x@example.com"}, "Resolving.Rules", "Resolving.Rules[0].Match", "unknown match"},
	{"rule regexp", map[string]string{"Resolving.Rules": "regexp deny ("}, "Resolving.Rules", "Resolving.Rules[0].Pattern", "invalid regular expression"},
	{"rule deliver without users", map[string]string{"Resolving.Rules": "equals deliver sales@example.com"}, "Resolving.Rules", "Resolving.Rules[0].Users", "at least one user"},
	{"rule deny with users", map[string]string{"Resolving.Rules": "equals deny sales@example.com alice"}, "Resolving.Rules", "Resolving.Rules[0].Users", "takes no users"},
	{"rule action", map[string]string{"Resolving.Rules": "equals forward sales@example.com"}, "Resolving.Rules", "Resolving.Rules[0].Action", "unknown action"},
	{"no recipient postmaster", map[string]string{"Policy.NoRecipient": "postmaster"}, "Policy.NoRecipient", "Policy.NoRecipient", "needs Policy.Postmaster"},
	{"no recipient unknown", map[string]string{"Policy.NoRecipient": "bounce"}, "Policy.NoRecipient", "Policy.NoRecipient", "unknown policy"},
	{"foreign report", map[string]string{"Policy.Foreign": "report"}, "Policy.Foreign", "Policy.Foreign", "needs Policy.Postmaster"},
	{"foreign unknown", map[string]string{"Policy.Foreign": "bounce"}, "Policy.Foreign", "Policy.Foreign", "unknown policy"},
	{"postmaster", map[string]string{"Policy.Postmaster": "Post Master <pm@example.com>"}, "Policy.Postmaster", "Policy.Postmaster", "not a bare address"},
	{"postmaster domain", map[string]string{"Policy.Postmaster": "pm@-x-.example"}, "Policy.Postmaster", "Policy.Postmaster", "invalid domain"},
	{"NUL", map[string]string{"Description": "a\x00b"}, "Description", "Description", "NUL"},
	{"id characters", map[string]string{"ID": "a/b"}, "ID", "ID", "contains"},
}

// TestValidationErrorsOnPage submits each bad form and finds the error next
// to its field, and nothing stored.
func TestValidationErrorsOnPage(t *testing.T) {
	e := newEnv(t, nil, nil)
	base := e.account("", "example.com")
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			form := formOf(base)
			for k, v := range tc.set {
				form.Set(k, v)
			}
			w := e.post("/new", form)
			require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
			body := w.Body.String()
			assert.Contains(t, body, "The account was not saved")
			assert.Contains(t, body, `placeholder="not saved: enter it again"`, "the typed password must be typed again")
			assert.NotContains(t, body, popPass, "the password is not sent back")
			if tc.field == "" {
				assert.Contains(t, body, `id="other-errors"`)
				assert.Contains(t, body, tc.want)
			} else {
				errs := pageFieldErrors(body)
				require.NotEmpty(t, errs[tc.field], "no error next to %s in %v", tc.field, errs)
				assert.Contains(t, errs[tc.field][0], tc.want)
			}
			// The submitted values are shown again (not the secret).
			if v := tc.set["Host"]; v != "" && tc.field == "Host" {
				assert.Contains(t, body, `value="`+v)
			}
			accs, err := e.store.List(t.Context(), account.Filter{})
			require.NoError(t, err)
			assert.Empty(t, accs)
		})
	}
}

// TestValidationErrorsInAPI sends each bad account as JSON and finds the
// field in the 422 response.
func TestValidationErrorsInAPI(t *testing.T) {
	e := newEnv(t, nil, nil)
	base := e.account("", "example.com")
	for _, tc := range validationCases {
		if tc.path == "" {
			continue // a form parsing error has no JSON counterpart
		}
		t.Run(tc.name, func(t *testing.T) {
			form := formOf(base)
			for k, v := range tc.set {
				form.Set(k, v)
			}
			a, perr := accountFromForm(form, account.Account{})
			require.Empty(t, perr)
			a.ID = form.Get("ID")
			w := e.api(http.MethodPost, "/api/accounts", a)
			require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
			var er ErrorResponse
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &er))
			var found bool
			for _, f := range er.Fields {
				if f.Field == tc.path {
					found = true
					assert.Contains(t, f.Reason, tc.want)
				}
			}
			assert.True(t, found, "%s not in %+v", tc.path, er.Fields)
			assert.NotContains(t, w.Body.String(), popPass)
		})
	}
}

// TestEditKeepsSecrets: the password field is empty on the page; an empty
// submission keeps the stored password, a value replaces it and the
// remove box clears it.
func TestEditKeepsSecrets(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := e.put(e.account("a", "example.com"))

	page := e.get("/edit/a")
	require.Equal(t, http.StatusOK, page.Code)
	assert.NotContains(t, page.Body.String(), popPass)
	assert.Contains(t, page.Body.String(), "stored; leave empty to keep it")

	form := formOf(a)
	form.Del("Auth.Secret")
	form.Set("Description", "edited")
	w := e.post("/edit/a", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/?saved=a", w.Header().Get("Location"))
	got, err := e.store.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, "edited", got.Description)
	assert.Equal(t, popPass, got.Auth.Secret)

	// A validation error on edit keeps the secret out of the page too.
	form.Set("Port", "-1")
	w = e.post("/edit/a", form)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code)
	assert.NotContains(t, w.Body.String(), popPass)
	assert.Contains(t, pageFieldErrors(w.Body.String())["Port"][0], "out of range")
	form.Set("Port", "0")

	form.Set("Auth.Secret", "replaced")
	require.Equal(t, http.StatusSeeOther, e.post("/edit/a", form).Code)
	got, _ = e.store.Get(t.Context(), "a")
	assert.Equal(t, "replaced", got.Auth.Secret)

	form.Del("Auth.Secret")
	form.Set("Auth.Mechanism", "external")
	form.Set("clear:Auth.Secret", "on")
	w = e.post("/edit/a", form)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code, "external needs a client certificate")
	form.Set("Auth.Mechanism", "user")
	require.Equal(t, http.StatusSeeOther, e.post("/edit/a", form).Code)
	got, _ = e.store.Get(t.Context(), "a")
	assert.Empty(t, got.Auth.Secret)

	assert.Equal(t, http.StatusNotFound, e.post("/edit/nope", url.Values{}).Code)
}
