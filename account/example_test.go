package account_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/multidrop/multidrop/account"
)

func ExampleMemoryStore() {
	ctx := context.Background()
	s := account.NewMemoryStore()
	for _, a := range []account.Account{
		{ID: "shop", Host: "pop.provider.example", Domain: "shop.example", Auth: account.Auth{User: "shop", Secret: "pw"}},
		{ID: "books", Host: "pop.provider.example", Domain: "bücher.example", ExtraDomains: []string{"books.example"},
			Auth: account.Auth{User: "books", Secret: "pw"}},
	} {
		if _, err := s.Put(ctx, a); err != nil {
			fmt.Println(err)
		}
	}
	a, err := s.Get(ctx, "books")
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(a.Address(), a.Domain)

	list, _ := s.List(ctx, account.Filter{Domain: "XN--BCHER-KVA.example"})
	for _, a := range list {
		fmt.Println("for domain:", a.ID)
	}
	_, err = s.Get(ctx, "nope")
	fmt.Println(errors.Is(err, account.ErrNotFound))
	// Output:
	// pop.provider.example:995 bücher.example
	// for domain: books
	// true
}

func ExampleAccount_Validate() {
	a := account.Account{Host: "pop.example.net", Port: 70000, Domain: "example.com"}
	err := a.Validate()
	fmt.Println(err)
	var ve *account.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("first field:", ve.Field)
	}
	// Output:
	// account: 2 problems: Port: 70000 is out of range 1-65535 (0 means the default); Auth.User: is empty
	// first field: Port
}

func ExampleAccount_Redacted() {
	a := account.Account{ID: "a1", Host: "pop.example.net", Domain: "example.com",
		Auth: account.Auth{User: "catchall", Secret: "hunter2"}}
	fmt.Println(a.Redacted().Auth.Secret)
	fmt.Printf("%v\n", a)
	fmt.Printf("%+v\n", a.Auth)
	// Output:
	// [redacted]
	// a1 (catchall@pop.example.net:995 for example.com)
	// {User:catchall Secret:[redacted] Mechanism: AllowInsecure:false}
}
