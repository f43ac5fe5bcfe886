package pop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
)

// A Downloader collects a mailbox; the Handler decides per message.
func ExampleDownloader() {
	// An in-process server stands in for the provider.
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("domain-box", "secret",
		poptest.Message{UID: "a1", Data: []byte("To: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n")},
		poptest.Message{UID: "b2", Data: []byte("To: bob@example.org\r\nSubject: hey\r\n\r\nHey.\r\n")},
	)
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)

	a := account.Account{
		ID: "example", Host: host, Port: p, Security: account.SecurityTLS,
		TLS:  account.TLS{ServerName: "localhost", RootCAs: string(srv.CAPEM())},
		Auth: account.Auth{User: "domain-box", Secret: "secret"},
	}
	h := pop.HandlerFunc(func(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
		n, err := io.Copy(io.Discard, body) // deliver it somewhere durable first
		if err != nil {
			return pop.Keep, err
		}
		fmt.Printf("message %d uid %s: %d octets\n", m.Number, m.UID, n)
		return pop.Delete, nil
	})
	if err := (&pop.Downloader{}).Fetch(context.Background(), a, h); err != nil {
		log.Fatal(err)
	}
	fmt.Println("left on server:", len(srv.Mailbox("domain-box")))
	// Output:
	// message 1 uid a1: 46 octets
	// message 2 uid b2: 43 octets
	// left on server: 0
}

// A Client speaks POP3 command by command.
func ExampleClient() {
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser("u", "p", poptest.Message{UID: "x", Data: []byte("Subject: one\r\n\r\n.a line starting with a dot\r\n")})
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := pop.Dial(ctx, nil, srv.Addr(), srv.ClientTLSConfig(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctx, "u", "p"); err != nil {
		log.Fatal(err)
	}
	body, err := c.Retr(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := io.ReadAll(body) // valid until the next command
	fmt.Printf("%q\n", b)
	if err := c.Quit(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// "Subject: one\r\n\r\n.a line starting with a dot\r\n"
}

// Errors carry the RFC 2449/3206 response code.
func ExampleError() {
	err := error(&pop.Error{Command: "PASS", Code: "IN-USE", Text: "mailbox locked"})
	var pe *pop.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.Code, pe.Temporary())
	}
	// Output:
	// IN-USE true
}

// A scheduler learns from a [LOGIN-DELAY] refusal how long the server wants
// it to wait, and tells a locked maildrop ([IN-USE]) apart.
func ExampleNextLogin() {
	srv := &poptest.Server{ImplicitTLS: true, LoginDelay: 900,
		Faults: []poptest.Fault{poptest.ErrReply("AUTH", "LOGIN-DELAY", "wait a little")}}
	srv.AddUser("domain-box", "secret")
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	a := account.Account{
		ID: "example", Host: host, Port: p,
		TLS:  account.TLS{ServerName: "localhost", RootCAs: string(srv.CAPEM())},
		Auth: account.Auth{User: "domain-box", Secret: "secret"},
	}
	err := (&pop.Downloader{}).Fetch(context.Background(), a, pop.HandlerFunc(nil))
	fmt.Println("login delayed:", errors.Is(err, pop.ErrLoginDelay), "in use:", errors.Is(err, pop.ErrInUse))
	if next, ok := pop.NextLogin(err); ok {
		fmt.Println("next login in about", time.Until(next).Round(time.Minute)) // persist next per account
	}
	// Output:
	// login delayed: true in use: false
	// next login in about 15m0s
}
