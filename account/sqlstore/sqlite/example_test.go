package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
)

func Example() {
	dir, err := os.MkdirTemp("", "multidrop")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := sqlite.Open(ctx, filepath.Join(dir, "multidrop.db"), nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	a, err := s.Put(ctx, account.Account{
		ID: "example", Enabled: true, Host: "pop.provider.example", Domain: "example.com",
		Auth: account.Auth{User: "catchall", Secret: "secret"},
	})
	if err != nil {
		panic(err)
	}

	// One check holds the account's lease; its journal writes are fenced.
	lease, err := s.Acquire(ctx, a.ID, "instance-1", time.Minute)
	if err != nil {
		panic(err)
	}
	j := s.Fenced(lease)
	if err := j.Record(ctx, a.ID, account.Record{Key: "uid-1", Rcpts: []string{"alice@example.com"}, At: time.Now()}); err != nil {
		panic(err)
	}
	_, err = s.Acquire(ctx, a.ID, "instance-2", time.Minute)
	fmt.Println(errors.Is(err, account.ErrLeaseHeld), lease.Token())
	if err := lease.Release(ctx); err != nil {
		panic(err)
	}
	// After the release, writes through the old lease are refused.
	err = j.Record(ctx, a.ID, account.Record{Key: "uid-2", Rcpts: []string{"bob@example.com"}, At: time.Now()})
	fmt.Println(errors.Is(err, account.ErrLeaseLost))
	// Output:
	// true 1
	// true
}
