package saslmech_test

import (
	"fmt"

	"github.com/multidrop/multidrop/internal/saslmech"
)

// A SCRAM-SHA-256 exchange between the client and the test server, the way
// a POP3 session carries it (RFC 5034): initial response, server-first,
// client-final, server-final answered with an empty response.
func ExampleNewSCRAMClient() {
	lookup := func(user string) (string, bool) { return "pencil", user == "user" }
	client := saslmech.NewSCRAMClient("SHA-256", "user", "pencil")
	server := saslmech.NewSCRAMServer("SHA-256", lookup)

	mech, resp, err := client.Start()
	if err != nil {
		panic(err)
	}
	fmt.Println("AUTH", mech)
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			fmt.Println("-ERR", err)
			return
		}
		if done {
			fmt.Println("+OK")
			return
		}
		if resp, err = client.Next(challenge); err != nil {
			fmt.Println("client:", err)
			return
		}
	}
	// Output:
	// AUTH SCRAM-SHA-256
	// +OK
}

func ExampleNewCRAMMD5Client() {
	c := saslmech.NewCRAMMD5Client("tim", "tanstaaftanstaaf")
	_, _, _ = c.Start()
	resp, _ := c.Next([]byte("<1896.697170952@postoffice.reston.mci.net>"))
	fmt.Println(string(resp))
	// Output: tim b913a602c7eda7a495b4e6e7334d3890
}
