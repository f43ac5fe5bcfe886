// Package admin serves the Remote POP Accounts page: an [http.Handler] an
// embedder mounts in its own admin server to list, create, edit, delete and
// check the remote POP accounts of an [account.MutableStore], with a JSON API
// for the same operations.
//
// # The page
//
// The list shows one account a row with the columns Enabled, Description,
// Host, Port, Domain and the outcome of the last check. The toolbar has New,
// Edit (also by double-clicking a row or pressing Enter on it), Delete,
// Check Now and a "For Domain" drop-down that shows all accounts or one
// domain's (an [account.Filter]). Rows are selected as in a desktop list:
// a click selects one, Ctrl-click (Cmd-click) adds or removes one,
// Shift-click selects a range. Delete asks for confirmation and deletes
// nothing when it is cancelled; Check Now checks the selected accounts at
// once and shows each result above the list, with a link to the report.
//
// New and Edit open the Edit POP Account screen: every field of
// [account.Account], grouped as connection and security, authentication,
// retrieval and retention, parsing, resolution and policies. List fields take
// one value a line; aliases are written "alias: user, user" and routing rules
// "match action pattern [users...]". The store's validation errors
// ([account.ValidationErrors]) are shown next to the field they name.
//
// The report page shows, for the last check of an account, the counts and,
// message by message, the action taken and why, the recipients found, the
// rejected candidates, the resolver's explanation and the delivery result of
// each recipient.
//
// The page's routes, relative to where the handler is mounted (forms are
// application/x-www-form-urlencoded and carry the "csrf" field):
//
//	GET  /?domain=D        the list, all accounts or one domain's
//	GET  /new              the empty Edit POP Account screen
//	POST /new              create; 303 to the list, or 422 with the errors
//	GET  /edit/{id}        the Edit POP Account screen
//	POST /edit/{id}        update; 303 to the list, or 422 with the errors
//	POST /delete           id=...&id=...: a confirmation page; with confirmed=yes, delete
//	POST /check            id=...&id=...: Check Now, then the list with the results
//	GET  /report/{id}      the last check's report
//	GET  /static/...       the style sheet and the script
//
// The page is rendered on the server with [html/template]; a small script
// (embedded, like the style sheet) adds the row selection, the confirmation
// dialog and the drop-down's automatic submit. Without JavaScript the row
// check boxes select, and Delete shows a confirmation page instead.
//
// # JSON API
//
// Routes, relative to where the handler is mounted. Accounts are
// [account.Account] in its JSON form, with secrets replaced by
// [account.RedactedSecret] ([account.Account.Redacted]). Errors are an
// [ErrorResponse] with a status code: 400 malformed request, 403 CSRF or
// cross-origin refusal, 404 unknown account, 409 account busy or disabled,
// 422 validation errors (listed in Fields), 501 no Checker.
//
//	GET    /api/csrf                      CSRFToken: a token for the X-CSRF-Token header
//	GET    /api/accounts?domain=D         AccountList (all accounts without domain)
//	POST   /api/accounts                  create; 201 with the stored account and a Location
//	GET    /api/accounts/{id}             the account
//	PUT    /api/accounts/{id}             replace it; 200 with the stored account
//	DELETE /api/accounts/{id}             204
//	POST   /api/accounts/delete           IDList {"ids": [...]}: delete several; 204
//	POST   /api/accounts/{id}/check       Check Now: a CheckResult
//	POST   /api/accounts/check            IDList: {"results": [CheckResult...]}
//	GET    /api/accounts/{id}/report      the last check's ReportView; 404 before the first
//
// Secrets are write-only: in a PUT, an empty Auth.Secret or TLS.ClientKey,
// or [account.RedactedSecret], keeps the stored one, so an account read with
// GET can be changed and sent back as it is. An empty TLS.ClientCert removes
// the stored client key. On the page, the password and key fields are always
// empty, an empty field keeps the stored secret and a "remove" box clears it.
// Bodies are limited to 1 MiB and unknown JSON fields are refused. Deleting an
// ID that is not stored succeeds when the store's Delete does (the memory
// store's does). Check Now runs [Checker.Check] for each ID, at most
// [Options.CheckConcurrency] at once and within [Options.CheckTimeout]; an
// account that could not be checked (busy, disabled, unknown) is a
// CheckResult with Error set and no Report (and, for the single-account
// route, status 409 or 404); a check that ran and failed is a 200 whose
// Report has Error set. A check stops when its client goes away, which the
// pipeline's guarantees make safe (nothing is deleted that was not
// delivered); an embedder's http.Server WriteTimeout should leave room for
// CheckTimeout.
//
// # Security
//
// Authentication is the embedder's: wrap the Handler in middleware that
// checks HTTP basic auth, a session or a token before it reaches the page,
// and serve it over HTTPS. Every response carries a strict
// Content-Security-Policy (no inline script, nothing from other origins),
// X-Frame-Options DENY and Cache-Control no-store.
//
// Every state-changing request (POST, PUT, DELETE) is checked twice against
// cross-site request forgery: [http.CrossOriginProtection] refuses requests
// that a browser marks as cross-origin (Sec-Fetch-Site, Origin), and the
// request must carry a token issued by this Handler — the hidden field
// "csrf" of the page's forms, or the X-CSRF-Token header of an API call
// (get one from GET /api/csrf). A token is a time stamp and a random nonce
// authenticated with HMAC-SHA-256 under [Options.CSRFKey] and is valid for
// [CSRFTokenLifetime].
//
// Everything shown that came from a mail header, a server reply or an error
// is escaped by html/template. Passwords and client keys are never sent back
// to the browser, written to a page, an API response or the log.
//
// # Mounting under a prefix
//
// The handler expects paths without its prefix and builds its links from
// [Options.Prefix]:
//
//	h, err := admin.New(&admin.Options{Store: store, Checker: pipeline, Prefix: "/admin"})
//	mux.Handle("/admin/", basicAuth(http.StripPrefix("/admin", h)))
//
// The package example shows it whole. The handler also works at the root
// (Prefix "") and behind a reverse proxy that keeps the Host header; a proxy
// that changes it must list the public origin in [Options.TrustedOrigins].
package admin
