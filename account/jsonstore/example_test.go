package jsonstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/jsonstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "multidrop")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := jsonstore.Open(filepath.Join(dir, "accounts.json"), nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	a, err := store.Put(ctx, account.Account{
		ID: "example", Enabled: true, Host: "pop.provider.example", Domain: "example.com",
		Auth: account.Auth{User: "catchall", Secret: "secret"},
	})
	if err != nil {
		panic(err)
	}

	journal, err := jsonstore.OpenJournal(filepath.Join(dir, "journal.json"), nil)
	if err != nil {
		panic(err)
	}
	defer journal.Close()
	now := time.Now()
	if _, err := journal.Sync(ctx, a.ID, []string{"uid-1"}, now); err != nil {
		panic(err)
	}
	if err := journal.Record(ctx, a.ID, account.Record{Key: "uid-1", Rcpts: []string{"alice@example.com"}, At: now}); err != nil {
		panic(err)
	}
	done, _ := journal.Delivered(ctx, a.ID, "uid-1")
	fmt.Println(a.ID, done.Rcpts)
	// Output: example [alice@example.com]
}
