package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// config is what the command line sets.
type config struct {
	Out     string // Maildir root; "" makes a fresh temporary directory
	Verbose bool   // print each message's full resolution explanation
}

// outcome is what one run did, for the test.
type outcome struct {
	Root   string            // Maildir root
	Report *multidrop.Report // the check's report
	Left   []poptest.Message // the POP mailbox after the check
	Files  map[string]int    // files in each user's Maildir new/, by address
	Server string            // address of the POP server
	Notes  map[string]string // sample notes by UID
}

// run starts the sample POP server, checks its one account with a
// Pipeline delivering into Maildirs under cfg.Out, and prints what
// happened to w.
func run(ctx context.Context, w io.Writer, cfg config) (*outcome, error) {
	root := cfg.Out
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "multidrop-demo-"); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}

	samples := mailbox()
	srv := &poptest.Server{ImplicitTLS: true}
	srv.AddUser(popUser, popPass, popMessages(samples)...)
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	defer srv.Close()

	p, a, err := pipeline(ctx, srv, root)
	if err != nil {
		return nil, err
	}

	out := &outcome{Root: root, Server: srv.Addr(), Notes: map[string]string{}}
	for _, s := range samples {
		out.Notes[s.UID] = s.Note
	}
	printIntro(w, a, srv.Addr(), len(samples), root)

	r, checkErr := p.Check(ctx, a.ID)
	if r == nil {
		return nil, checkErr
	}
	out.Report = r
	out.Left = srv.Mailbox(popUser)
	if out.Files, err = countFiles(root); err != nil {
		return nil, err
	}
	printMessages(w, r, out.Notes, cfg.Verbose)
	printTotals(w, r)
	printMaildirs(w, root, out.Files, out.Left)
	if checkErr != nil {
		return out, fmt.Errorf("demo: the check reported errors: %w", checkErr)
	}
	return out, nil
}

// pipeline builds the account, the directory, the Maildir deliverer and
// the Pipeline for the sample server.
func pipeline(ctx context.Context, srv *poptest.Server, root string) (*multidrop.Pipeline, account.Account, error) {
	host, portStr, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}

	// The remote POP account, as an administrator enters it on the
	// Remote POP Accounts page.
	store := account.NewMemoryStore()
	a, err := store.Put(ctx, account.Account{
		ID:          "example-com",
		Enabled:     true,
		Description: "all mail for example.com, dropped by the provider",
		Host:        host,
		Port:        port,
		Domain:      domain,
		Security:    account.SecurityTLS,
		TLS:         account.TLS{RootCAs: string(srv.CAPEM())},
		Auth:        account.Auth{User: popUser, Secret: popPass},
		Retrieval:   account.Retrieval{MaxMessageSize: maxMessageSize, Oversize: account.OversizeNotify},
		Policy:      account.Policy{Postmaster: postmaster},
	})
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}

	// The domain's users, as the embedding mail server knows them.
	t := resolve.Table{Aliases: alias}
	for _, u := range users {
		t.Users = append(t.Users, resolve.User{Address: u})
	}
	dir, err := resolve.NewStatic(t)
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}

	md, err := deliver.NewMaildir(&deliver.MaildirOptions{
		Root:         root, // deliver.DefaultMaildirTemplate, key-derived names, Delivered-To
		Create:       true,
		TraceOptions: deliver.TraceOptions{LocalHost: "mail.example.com"},
	})
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}

	p, err := multidrop.New(&multidrop.Options{
		Store:     store,
		Journal:   account.NewMemoryJournal(),
		Resolver:  resolve.New(dir, nil),
		Deliverer: md,
		Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 10 * time.Second, Data: 10 * time.Second}}},
		LocalHost: "mail.example.com",
		Logger:    slog.New(slog.DiscardHandler), // the report says it all
	})
	if err != nil {
		return nil, account.Account{}, fmt.Errorf("demo: %w", err)
	}
	return p, a, nil
}

// countFiles counts the messages in new/ of every user's Maildir under
// root, by address.
func countFiles(root string) (map[string]int, error) {
	n := map[string]int{}
	for _, u := range users {
		local, dom, _ := strings.Cut(u, "@")
		es, err := os.ReadDir(filepath.Join(root, dom, local, "Maildir", "new"))
		if errors.Is(err, os.ErrNotExist) {
			n[u] = 0
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		n[u] = len(es)
	}
	return n, nil
}

// maildirOf is the Maildir of a user under root.
func maildirOf(root, addr string) string {
	local, dom, _ := strings.Cut(addr, "@")
	return filepath.Join(root, dom, local, "Maildir")
}
