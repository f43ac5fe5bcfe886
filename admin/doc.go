// Package admin serves the Remote POP Accounts page: an [http.Handler] an
// embedder mounts in its own admin server to list, create, edit, delete and
// check the remote POP accounts of an [account.MutableStore], with a JSON API
// for the same operations.
//
// # The page
//
// The list shows one account a row: the account (ID and description),
// host, domain, when it was last checked (relative, the exact time on
// hover), the result (deliveries, kept and dropped, or the error as a
// sentence), the next check and the state: enabled, disabled (the row is
// greyed and hatched), paused or backing off with the reason, and, when
// the newest check record in [Options.History] says the server's
// LOGIN-DELAY allows no login yet ([account.CheckRecord].NextLogin), "next
// login allowed" with the time (relative, exact on hover). Failed rows
// repeat their error below the list with the technical chain behind a
// disclosure. The toolbar has New, Edit, Delete, Check Now, Resume (for
// paused accounts), a search over ID, description, host, domains and user,
// and a "For Domain" drop-down; a count says how many accounts match, and
// the list is paged on the server ([PageSize] a page), so 10,000 accounts
// cost one List, a filter in memory, and the history and guard reads of
// the rows of one page.
//
// The list is an ARIA listbox with multiple selection and one Tab stop:
// Up, Down, Home and End move and select, Shift extends the selection,
// Ctrl moves without selecting, Space toggles, Ctrl+A selects all, Enter
// edits; click, Ctrl-click (Cmd-click), Shift-click and double-click work
// as in a desktop list. Delete asks in an in-page dialog that lists the
// accounts (without script, on a confirmation page). Check Now runs in the
// background: the POST answers 303 back to the list, whose rows say
// "checking..." (the page reloads itself while one runs) and then the
// result; a reload never checks again. Paused and backing-off states and
// the next check come from a Checker that is also a [StatusSource];
// Resume needs a [Resumer]; Check Now on a disabled account runs one check
// with an [OnceChecker] (the account stays disabled).
//
// With a Checker that is also a [GuardKeeper] (*multidrop.Pipeline is), a
// row whose account the deletion guard holds says "deletion guard holds it"
// with the reason ("since 2026-11-01 15:04 UTC: 9 of the last 20 messages
// had no valid recipient; those are kept until you release the guard"),
// the report page shows the same in a banner, and Release guard (a toolbar
// button for the selected rows the guard holds, and a button in the
// banner) is the administrator's confirmation: it calls
// [GuardKeeper.ReleaseGuard], so that the next check deletes the messages
// without a valid recipient, and comes back (303) to the list or the report
// with a notice saying for which accounts the guard was released, which it
// did not hold, and which are being checked (try again when the check
// ends). The banner reflects the guard as it is now, not as the last
// report saw it.
//
// New and Edit open the Edit POP Account screen: a Basic section (ID,
// Enabled, Description, host, port, domain, security, user, password) and
// folded Advanced groups (connection and authentication, retrieval,
// parsing, resolving, policy, timeouts, TLS details) with human labels and
// each field's effective default; Save stays at the top. List fields take
// one value a line; aliases are written "alias: user, user" and routing
// rules "match action pattern [users...]". The store's validation errors
// ([account.ValidationErrors]) are shown next to the field they name. The
// form carries the account's Version: when someone else saved the account
// meanwhile nothing is overwritten and the form says so (409).
//
// With [Options.Prober] the form also has Test connection and Preview.
// Both send the form's current values, for a new account or an edited
// one, to their own route; the account is built from them exactly as Save
// builds it (an empty password or key field means the stored one, and
// "remove" clears it) and validated the same way, the errors shown next to
// their fields (422). Nothing is saved, and no secret is sent back. Test
// connection runs [Prober.Test] ([probe.Test]): a table of the steps
// (connect, TLS with the certificate's subject, issuer, expiry and SHA-256
// pin, login, CAPA, STAT), each ok, failed or not tried, and a verdict in
// words; Preview runs [Prober.Preview] ([probe.Preview]): per message its
// subject, sender, size, what would become of it (deliver, postmaster,
// drop, keep), the recipients and why, and the candidates that were
// rejected. Nothing is deleted, delivered or written to a journal. Each
// runs within [Options.ProbeTimeout]. [Probe] is the Prober over fixed
// [probe.PreviewOptions]: Preview needs the Pipeline's Resolver (and its
// LocalHost, to recognise looping mail), and the Downloader gives the dial
// and TLS settings. With script, the page sends the form in the background
// and shows the result above the form, which keeps what was typed (a
// password too); without script the buttons submit the form and the page
// comes back with the result and the values, the secrets to be typed
// again.
//
// The history page shows the last [account.HistoryLimit] checks of an
// account from [Options.History], newest first, each with its counts, its
// error and per message the UID, subject, sender, recipients, outcome,
// reason and warnings. The report page shows the last check in memory in
// full detail.
//
// The page's routes, relative to where the handler is mounted (forms are
// application/x-www-form-urlencoded and carry the "csrf" field):
//
//	GET  /?domain=D&q=S&page=N  the list: one domain's or all, searched, one page
//	GET  /new              the empty Edit POP Account screen
//	POST /new              create; 303 to the list, or 422 with the errors
//	GET  /edit/{id}        the Edit POP Account screen
//	POST /edit/{id}        update; 303 to the list, 422 with the errors, 409 on a conflict
//	POST /new/test         Test connection on the new-account form; 200, or 422 with the errors
//	POST /new/preview      Preview on the new-account form
//	POST /edit/{id}/test   Test connection on the account's form (nothing is saved)
//	POST /edit/{id}/preview Preview on the account's form (nothing is saved)
//	POST /delete           id=...&id=...: a confirmation page; with confirmed=yes, delete
//	POST /check            id=...&id=...: start Check Now; 303 to the list (back=?query)
//	POST /resume           id=...: resume paused accounts; 303 to the list
//	POST /release-guard    id=...: release the deletion guard; 303 to the list (back=?query),
//	                       or to the report with to=report, with a notice
//	GET  /history/{id}     the last checks of the account
//	GET  /report/{id}      the last check's report
//	GET  /static/...       the style sheet and the script
//
// The page is rendered on the server with [html/template]; a small script
// (embedded, like the style sheet) adds the listbox, the dialog and the
// drop-down's automatic submit.
//
// # Metrics and health
//
// [Metrics] counts each account's checks, messages, octets, deliveries,
// kept and dropped messages and errors, a histogram of check durations and
// the last success, from the Pipeline's Observer events, and serves them in
// the Prometheus text format (written here, without a client library: the
// format is a few lines of text, and the module stays free of its
// dependencies). [Healthz] and [Readyz] are the liveness and readiness
// probes.
//
// # JSON API
//
// Routes, relative to where the handler is mounted. Accounts are
// [account.Account] in its JSON form, with secrets replaced by
// [account.RedactedSecret] ([account.Account.Redacted]). Errors are an
// [ErrorResponse] with a status code: 400 malformed request, 403 CSRF or
// cross-origin refusal, 404 unknown account, 409 account busy or disabled
// or (create) the ID exists, 412 a stale version, 422 validation errors
// (listed in Fields), 501 no Checker. Bodies are strict: a key that no
// field takes is a 400 naming its path ("unknown key auth.secrte").
//
//	GET    /api/csrf                      CSRFToken: a token for the X-CSRF-Token header
//	GET    /api/accounts?domain=D         AccountList (all accounts without domain)
//	POST   /api/accounts                  create; 201 with the stored account and a Location
//	GET    /api/accounts/{id}             the account, with its ETag
//	PUT    /api/accounts/{id}             replace it; 200 with the stored account and its ETag
//	DELETE /api/accounts/{id}             204
//	POST   /api/accounts/delete           IDList {"ids": [...]}: delete several; 204
//	POST   /api/accounts/{id}/check       Check Now: a CheckResult
//	POST   /api/accounts/check            IDList: {"results": [CheckResult...]}
//	GET    /api/accounts/{id}/report      the last check's ReportView; 404 before the first
//	POST   /api/accounts/{id}/release-guard  release the deletion guard: a GuardState;
//	                                      409 while the account is being checked (try again)
//
// Edits are atomic: POST creates only (409 when the ID exists, however
// many create it at once); PUT replaces the version named by If-Match (the
// ETag of a GET), else by the body's "version", else the stored one, and
// answers 412 when the account changed meanwhile; a PUT never brings back
// a deleted account (404).
//
// Secrets are write-only: in a PUT, an empty Auth.Secret or TLS.ClientKey,
// or [account.RedactedSecret], keeps the stored one, so an account read with
// GET can be changed and sent back as it is; the password of the proxy URL
// is treated the same way (redacted in every response; absent or redacted
// in a PUT for the same proxy user keeps the stored one). An empty
// TLS.ClientCert removes
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
