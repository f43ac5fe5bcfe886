package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

// secretFields are the paths of the Account fields that must never leave
// the process; the proxy URL's password is the further secret.
var secretFields = accounttest.SecretFields

const proxySecret = "MARKproxypwMARK"

// rawStore is a MutableStore that keeps accounts as given, without
// validation, so that an account full of markers can be served.
type rawStore struct {
	mu   sync.Mutex
	accs map[string]account.Account
}

func (s *rawStore) Get(_ context.Context, id string) (account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accs[id]
	if !ok {
		return account.Account{}, account.ErrNotFound
	}
	return a.Clone(), nil
}

func (s *rawStore) List(context.Context, account.Filter) ([]account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []account.Account
	for _, a := range s.accs {
		out = append(out, a.Clone())
	}
	slices.SortFunc(out, func(a, b account.Account) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *rawStore) Create(ctx context.Context, a account.Account) (account.Account, error) {
	return s.Put(ctx, a)
}

func (s *rawStore) Update(ctx context.Context, a account.Account) (account.Account, error) {
	return s.Put(ctx, a)
}

func (s *rawStore) Put(_ context.Context, a account.Account) (account.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Version++
	s.accs[a.ID] = a.Clone()
	return a, nil
}

func (s *rawStore) Delete(_ context.Context, ids ...string) error { return nil }

// TestNoSecretInResponses fills every string field of an Account with a
// marker by reflection, serves it, and reads every page and API response
// that shows an account: no secret's marker appears in any of them, while
// the other fields' markers do (so the walk reaches them).
func TestNoSecretInResponses(t *testing.T) {
	var a account.Account
	markers := accounttest.FillMarkers(&a)
	a.ID = "acc"
	a.Proxy = "socks5://proxyuser:" + proxySecret + "@proxy.test:1080"
	delete(markers, "ID")
	delete(markers, "Proxy")
	for _, f := range secretFields {
		require.Contains(t, markers, f, "the walk reaches every secret field")
	}
	st := &rawStore{accs: map[string]account.Account{}}
	_, err := st.Put(t.Context(), a)
	require.NoError(t, err)

	e := newEnv(t, nil, func(o *Options) { o.Store = st })
	require.NoError(t, e.history.AddCheck(t.Context(), account.CheckRecord{AccountID: "acc", Error: "pop: dial: refused"}))

	bodies := map[string]string{}
	for _, path := range []string{"/", "/?q=acc", "/edit/acc", "/history/acc", "/report/acc", "/api/accounts", "/api/accounts/acc"} {
		w := e.get(path)
		require.Equal(t, http.StatusOK, w.Code, path)
		bodies["GET "+path] = w.Body.String()
	}
	w := e.post("/delete", url.Values{"id": {"acc"}})
	require.Equal(t, http.StatusOK, w.Code)
	bodies["POST /delete (confirmation)"] = w.Body.String()
	w = e.post("/edit/acc", url.Values{"Port": {"not a number"}, "Version": {"1"}})
	require.Equal(t, http.StatusUnprocessableEntity, w.Code)
	bodies["POST /edit (invalid)"] = w.Body.String()
	var got map[string]any // what GET returned, sent back as it is
	require.NoError(t, json.Unmarshal([]byte(bodies["GET /api/accounts/acc"]), &got))
	w = e.api(http.MethodPut, "/api/accounts/acc", got)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	bodies["PUT /api/accounts/acc"] = w.Body.String()

	for name, body := range bodies {
		for _, f := range secretFields {
			assert.NotContains(t, body, markers[f], "%s shows %s", name, f)
		}
		assert.NotContains(t, body, proxySecret, "%s shows the proxy password", name)
	}
	// The walk is not vacuous: non-secret fields are shown.
	assert.Contains(t, bodies["GET /api/accounts/acc"], markers["Description"])
	assert.Contains(t, bodies["GET /api/accounts/acc"], markers["Resolving.Rules[0].Pattern"])
	assert.Contains(t, bodies["GET /api/accounts/acc"], "proxyuser")
	assert.Contains(t, bodies["GET /edit/acc"], markers["Parsing.ReceivedBy[0]"])
	assert.Contains(t, bodies["GET /edit/acc"], `value="socks5://proxyuser@proxy.test:1080"`)
	assert.Contains(t, bodies["GET /"], markers["Description"])
	// The stored secrets are kept through the PUT.
	stored, err := st.Get(t.Context(), "acc")
	require.NoError(t, err)
	assert.Equal(t, markers["Auth.Secret"], stored.Auth.Secret)
	assert.Contains(t, stored.Proxy, proxySecret)
	assert.NotContains(t, e.log.String(), proxySecret)
}

// TestStrictInput refuses every unknown key of an API body with its path,
// at any depth, and changes nothing.
func TestStrictInput(t *testing.T) {
	e := newEnv(t, nil, nil)
	a := e.put(e.account("a", popDomain))
	for _, tc := range []struct {
		body map[string]any
		path string
	}{
		{map[string]any{"id": "n", "hots": "x"}, "hots"},
		{map[string]any{"id": "n", "auth": map[string]any{"user": "u", "secrte": "x"}}, "auth.secrte"},
		{map[string]any{"id": "n", "retrieval": map[string]any{"leave_on_sever": true}}, "retrieval.leave_on_sever"},
		{map[string]any{"id": "n", "resolving": map[string]any{"rules": []any{map[string]any{"match": "equals"}, map[string]any{"usres": []string{"x"}}}}}, "resolving.rules[1].usres"},
	} {
		w := e.api(http.MethodPost, "/api/accounts", tc.body)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "unknown key "+tc.path)
		w = e.api(http.MethodPut, "/api/accounts/a", tc.body)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "unknown key "+tc.path)
	}
	w := e.api(http.MethodPost, "/api/accounts/delete", map[string]any{"ids": []string{"a"}, "force": true})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "unknown key force")
	got, err := e.store.Get(t.Context(), "a")
	require.NoError(t, err)
	assert.Equal(t, a.Version, got.Version, "nothing changed")
	_, err = e.store.Get(t.Context(), "n")
	assert.ErrorIs(t, err, account.ErrNotFound)
	// Keys in another case are the fields they name, as encoding/json reads them.
	assert.NoError(t, account.CheckKeys([]byte(`{"Auth":{"User":"u"}}`), &account.Account{}))
}

// TestAtomicAPIEdits: 20 parallel creates of one ID give one 201 and 409s;
// PUT with a stale If-Match is 412 and changes nothing; a PUT after a
// DELETE never brings the account back.
func TestAtomicAPIEdits(t *testing.T) {
	e := newEnv(t, nil, nil)
	body := e.account("dup", popDomain)
	codes := make([]int, 20)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = e.api(http.MethodPost, "/api/accounts", body).Code })
	}
	wg.Wait()
	assert.Equal(t, 1, slices.Index(slices.Sorted(slices.Values(codes)), http.StatusConflict), "exactly one 201: %v", codes)
	assert.Equal(t, 19, len(slices.DeleteFunc(slices.Clone(codes), func(c int) bool { return c != http.StatusConflict })))

	w := e.get("/api/accounts/dup")
	etag := w.Header().Get("ETag")
	require.Equal(t, `"v1"`, etag)
	var got account.Account
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	got.Description = "first"
	put := func(a account.Account, ifMatch string) *http.Response {
		b, _ := json.Marshal(a)
		r := httptestRequest(t, http.MethodPut, "/api/accounts/dup", string(b))
		r.Header.Set(CSRFHeader, e.token())
		if ifMatch != "" {
			r.Header.Set("If-Match", ifMatch)
		}
		return e.do(r).Result()
	}
	res := put(got, etag)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, `"v2"`, res.Header.Get("ETag"))
	got.Description = "stale"
	got.Version = 0
	assert.Equal(t, http.StatusPreconditionFailed, put(got, etag).StatusCode, "If-Match of the old version")
	stored, _ := e.store.Get(t.Context(), "dup")
	assert.Equal(t, "first", stored.Description)

	require.Equal(t, http.StatusNoContent, e.api(http.MethodDelete, "/api/accounts/dup", nil).Code)
	assert.Equal(t, http.StatusNotFound, put(got, "").StatusCode, "an update never revives a deleted account")
	_, err := e.store.Get(t.Context(), "dup")
	assert.ErrorIs(t, err, account.ErrNotFound)
}

func httptestRequest(t *testing.T, method, path, body string) *http.Request {
	r := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}
