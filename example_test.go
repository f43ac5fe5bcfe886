package multidrop_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// Example embeds multidrop: one remote POP account for example.com,
// its users in a static directory, delivery into per-user Maildirs. Here
// the "remote" server is an in-process poptest server; in production the
// account names the provider's POP3 server.
func Example() {
	ctx := context.Background()

	// The provider's multidrop mailbox: one copy per envelope recipient.
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("example.com", "secret",
		poptest.Message{UID: "1", Data: []byte("Delivered-To: alice@example.com\r\nMessage-ID: <1@x>\r\nTo: friends@lists.test\r\n\r\nHi Alice\r\n")},
		poptest.Message{UID: "2", Data: []byte("Delivered-To: bob@example.com\r\nMessage-ID: <1@x>\r\nTo: friends@lists.test\r\n\r\nHi Alice\r\n")},
	)
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	defer srv.Close()
	host, port := splitAddr(srv.Addr())

	// The account, as an administrator would enter it.
	store := account.NewMemoryStore()
	a, err := store.Put(ctx, account.Account{
		ID: "example", Enabled: true, Host: host, Port: port, Domain: "example.com",
		Security: account.SecurityTLS, TLS: account.TLS{RootCAs: string(srv.CAPEM())},
		Auth: account.Auth{User: "example.com", Secret: "secret"},
	})
	if err != nil {
		panic(err)
	}

	// Who the valid users are, and where their mail goes.
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{
		{Address: "alice@example.com"}, {Address: "bob@example.com"},
	}})
	if err != nil {
		panic(err)
	}
	root, err := os.MkdirTemp("", "multidrop-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	// The defaults: {root}/{domain}/{user}/Maildir, key-named files
	// (no duplicate after a crash), a Delivered-To field.
	maildir, err := deliver.NewMaildir(&deliver.MaildirOptions{Root: root, Create: true})
	if err != nil {
		panic(err)
	}

	p, err := multidrop.New(&multidrop.Options{
		Store:     store,
		Journal:   account.NewMemoryJournal(), // account/sqlstore in production
		Resolver:  resolve.New(dir, nil),
		Deliverer: maildir, // no Logger: a library is silent unless asked
	})
	if err != nil {
		panic(err)
	}
	r, err := p.Check(ctx, a.ID)
	if err != nil {
		panic(err)
	}
	fmt.Printf("listed %d, delivered %d, deleted %d, left on server %d\n",
		r.Listed, r.Delivered, r.Deleted, len(srv.Mailbox("example.com")))
	for _, user := range []string{"alice", "bob"} {
		files, _ := filepath.Glob(filepath.Join(root, "example.com", user, "Maildir", "new", "*"))
		fmt.Printf("%s: %d message(s)\n", user, len(files))
	}
	// Output:
	// listed 2, delivered 2, deleted 2, left on server 0
	// alice: 1 message(s)
	// bob: 1 message(s)
}

// ExampleCheckAccount checks one account value in one call, with an
// in-memory store and journal made for the call: what a unit test of a
// resolver or a deliverer needs.
func ExampleCheckAccount() {
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("example.com", "secret",
		poptest.Message{UID: "1", Data: []byte("Message-ID: <1@x>\r\nTo: alice@example.com\r\nCc: <broken\r\n\r\nHi\r\n")},
		poptest.Message{UID: "2", Data: []byte("Message-ID: <2@x>\r\nTo: nobody@example.com\r\n\r\nWho?\r\n")},
	)
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	defer srv.Close()
	host, port := splitAddr(srv.Addr())

	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	if err != nil {
		panic(err)
	}
	dlv := &delivertest.Deliverer{}
	r, err := multidrop.CheckAccount(context.Background(), account.Account{
		ID: "example", Host: host, Port: port, Domain: "example.com",
		Security: account.SecurityTLS, TLS: account.TLS{RootCAs: string(srv.CAPEM())},
		Auth:   account.Auth{User: "example.com", Secret: "secret"},
		Policy: account.Policy{NoRecipient: account.NoRecipientKeep},
	}, &multidrop.Options{Resolver: resolve.New(dir, nil), Deliverer: dlv})
	if err != nil {
		panic(err)
	}
	for _, m := range r.Messages {
		fmt.Printf("%s: %s (%s), %d warning(s)\n", m.UID, m.Outcome, m.Reason, len(m.Warnings))
	}
	fmt.Printf("alice got %d, kept %d\n", len(dlv.Delivered("alice@example.com")), len(r.Only(multidrop.OutcomeKept)))
	// Output:
	// 1: delivered (delivered), 1 warning(s)
	// 2: kept (no valid recipient; kept by policy), 0 warning(s)
	// alice got 1, kept 1
}

func splitAddr(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		panic(err)
	}
	return host, n
}

// The deletion guard holds an account whose mail has no valid recipient
// (here: a directory that lost its users) until the administrator
// releases it; the next check then deletes that mail, as the account's
// no-recipient policy says.
func ExamplePipeline_ReleaseGuard() {
	ctx := context.Background()
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("example.com", "secret")
	for i := range 5 {
		srv.AddMessages("example.com", poptest.Message{UID: strconv.Itoa(i),
			Data: []byte("Message-ID: <" + strconv.Itoa(i) + "@x>\r\nTo: alice@example.com\r\n\r\nHi\r\n")})
	}
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	defer srv.Close()
	host, port := splitAddr(srv.Addr())
	store := account.NewMemoryStore()
	a, err := store.Put(ctx, account.Account{
		ID: "example", Enabled: true, Host: host, Port: port, Domain: "example.com",
		Security: account.SecurityTLS, TLS: account.TLS{RootCAs: string(srv.CAPEM())},
		Auth: account.Auth{User: "example.com", Secret: "secret"},
	})
	if err != nil {
		panic(err)
	}
	empty, err := resolve.NewStatic(resolve.Table{}) // alice is missing
	if err != nil {
		panic(err)
	}
	p, err := multidrop.New(&multidrop.Options{
		Store: store, Journal: account.NewMemoryJournal(),
		Resolver: resolve.New(empty, nil), Deliverer: &delivertest.Deliverer{},
	})
	if err != nil {
		panic(err)
	}

	r, err := p.Check(ctx, a.ID)
	fmt.Println(errors.Is(err, multidrop.ErrDeletionGuard), r.Kept, "kept")
	fmt.Printf("guard: %d of %d without a valid recipient\n", r.Guard.NoRecipient, r.Guard.Examined)

	if _, err := p.ReleaseGuard(ctx, a.ID); err != nil {
		panic(err)
	}
	r, err = p.Check(ctx, a.ID)
	fmt.Println(err, r.Deleted, "deleted", r.Guard == nil)
	// Output:
	// true 5 kept
	// guard: 5 of 5 without a valid recipient
	// <nil> 5 deleted true
}
