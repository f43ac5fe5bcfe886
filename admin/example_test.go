package admin_test

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/admin"
)

// basicAuth is the embedder's authentication: the admin handler has none
// of its own.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="multidrop admin"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Mount the page under /admin behind basic auth, then use the JSON API:
// fetch an anti-CSRF token and create an account.
func Example() {
	store := account.NewMemoryStore()
	h, err := admin.New(&admin.Options{
		Store:  store,
		Prefix: "/admin",
		// Checker: pipeline, // a *multidrop.Pipeline enables Check Now and the reports
		// Prober: &admin.Probe{Options: probe.PreviewOptions{Resolver: resolver}}, // Test connection and Preview
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", basicAuth("admin", "correct horse", http.StripPrefix("/admin", h)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(method, path, token, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.SetBasicAuth("admin", "correct horse")
		if token != "" {
			req.Header.Set(admin.CSRFHeader, token)
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}

	resp, _ := http.Get(srv.URL + "/admin/")
	resp.Body.Close()
	fmt.Println("without credentials:", resp.StatusCode)

	resp = do("GET", "/admin/api/csrf", "", "")
	var tok admin.CSRFToken
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	resp = do("POST", "/admin/api/accounts", tok.Token, `{"id": "shop", "enabled": true,
		"host": "pop.provider.example", "domain": "shop.example",
		"auth": {"user": "catchall", "secret": "pop-password"}}`)
	var created account.Account
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	fmt.Println("create:", resp.StatusCode, resp.Header.Get("Location"), created.Auth.Secret)

	resp = do("POST", "/admin/api/accounts/delete", "", `{"ids": ["shop"]}`)
	resp.Body.Close()
	fmt.Println("delete without a token:", resp.StatusCode)
	// Output:
	// without credentials: 401
	// create: 201 /admin/api/accounts/shop [redacted]
	// delete without a token: 403
}
