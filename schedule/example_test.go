package schedule_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
	"github.com/multidrop/multidrop/schedule"
)

// Example checks the accounts of a store on their intervals with Run, in
// one process. Here Run stops as soon as the first check has ended: a
// daemon runs it until it is told to stop.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("example.com", "secret",
		poptest.Message{UID: "1", Data: []byte("Message-ID: <1@x>\r\nTo: alice@example.com\r\n\r\nHi\r\n")})
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Addr())
	portNum, _ := strconv.Atoi(port)

	store := account.NewMemoryStore()
	if _, err := store.Put(ctx, account.Account{
		ID: "example", Enabled: true, Host: host, Port: portNum, Domain: "example.com",
		Security: account.SecurityTLS, TLS: account.TLS{RootCAs: string(srv.CAPEM())},
		Auth: account.Auth{User: "example.com", Secret: "secret"},
	}); err != nil {
		panic(err)
	}
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	if err != nil {
		panic(err)
	}
	dlv := &delivertest.Deliverer{}
	p, err := multidrop.New(&multidrop.Options{
		Store: store, Journal: account.NewMemoryJournal(),
		Resolver: resolve.New(dir, nil), Deliverer: dlv,
		Observer: func(e multidrop.Event) {
			if e.Kind == multidrop.EventCheckEnd {
				stop() // for the example: the first check is enough
			}
		},
	})
	if err != nil {
		panic(err)
	}

	s, err := schedule.New(p, store, &schedule.Options{
		Interval: 10 * time.Minute, // accounts without their own
		Jitter:   -1,               // none: the first check at once
	})
	if err != nil {
		panic(err)
	}
	// Elsewhere, on a click on "Check Now":
	//	err := s.Wake(ctx, accountID)
	if err := s.Run(ctx); err != nil {
		panic(err)
	}
	r := p.LastReport("example")
	fmt.Printf("delivered %d, alice got %d, left on server %d\n",
		r.Delivered, len(dlv.Delivered("alice@example.com")), len(srv.Mailbox("example.com")))
	// Output:
	// delivered 1, alice got 1, left on server 0
}
