package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/jsonstore"
	"github.com/multidrop/multidrop/probe"
)

// accountsUsage is the help of "multidropd accounts".
const accountsUsage = `Usage: multidropd accounts [-config file] COMMAND [arguments]

Commands on the account store of the configuration file:

  list                      one line per account
  show ID                   the account as JSON (secrets masked)
  add [flags]               add an account from flags; the password is asked
                            for (or read from standard input's first line)
  add -json                 add the account given as JSON on standard input
  edit ID [flags]           change the flags given; -password asks for a new one
  enable ID...              enable accounts
  disable ID...             disable accounts
  delete ID...              delete accounts
  export                    every account, secrets included, as an accounts
                            file ({"version": 1, "accounts": [...]}) on
                            standard output
  import [FILE]             add or replace the accounts of an accounts file
                            (standard input without FILE)
  test ID                   connect, verify TLS, log in, STAT, QUIT: nothing
                            is retrieved or deleted
  preview [-max N] ID       download up to N messages (default 50) without
                            deleting or delivering, and say for each whom it
                            would be delivered to, or why it would be dropped
                            or kept
  release-guard ID          the administrator's confirmation after the
                            deletion guard held the account (its directory
                            fixed, or its mail really mostly without a valid
                            recipient): the next check deletes the messages
                            without a valid recipient again

Account flags (add, edit): -id -host -port -domain -user -security
(tls, starttls, none) -description -disabled -allow-insecure.
Passwords are never taken from the command line.
`

// accountsMain runs "multidropd accounts ...".
func accountsMain(ctx context.Context, args []string, env *Env) int {
	fs := flag.NewFlagSet("multidropd accounts", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	configPath := fs.String("config", DefaultConfig, "configuration `file`")
	fs.Usage = func() { fmt.Fprint(env.Stderr, accountsUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitConfig
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return ExitConfig
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	run, ok := accountCommands[cmd]
	if !ok {
		fmt.Fprintf(env.Stderr, "multidropd accounts: unknown command %q\n\n", cmd)
		fs.Usage()
		return ExitConfig
	}
	c, err := LoadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	}
	// Commands log nothing unless something goes wrong.
	c.Log.Level = "warn"
	level := new(slog.LevelVar)
	d, err := Open(ctx, c, NewLogger(c, env.Stderr, level), level)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: %v\n", err)
		return ExitConfig
	}
	defer d.Close()
	ac := &accountsCmd{ctx: ctx, d: d, env: env, name: "multidropd accounts " + cmd}
	return run(ac, rest)
}

// accountsCmd is one run of an accounts command.
type accountsCmd struct {
	ctx  context.Context
	d    *Daemon
	env  *Env
	name string
}

func (ac *accountsCmd) errorf(status int, format string, args ...any) int {
	fmt.Fprintf(ac.env.Stderr, "%s: %s\n", ac.name, fmt.Sprintf(format, args...))
	return status
}

var accountCommands = map[string]func(*accountsCmd, []string) int{
	"list":    (*accountsCmd).list,
	"show":    (*accountsCmd).show,
	"add":     (*accountsCmd).add,
	"edit":    (*accountsCmd).edit,
	"enable":  func(ac *accountsCmd, ids []string) int { return ac.setEnabled(ids, true) },
	"disable": func(ac *accountsCmd, ids []string) int { return ac.setEnabled(ids, false) },
	"delete":  (*accountsCmd).delete,
	"export":  (*accountsCmd).export,
	"import":  (*accountsCmd).importFile,
	"test":    (*accountsCmd).test,
	"preview": (*accountsCmd).preview,

	"release-guard": (*accountsCmd).releaseGuard,
}

func (ac *accountsCmd) get(id string) (account.Account, int) {
	a, err := ac.d.Store().Get(ac.ctx, id)
	if errors.Is(err, account.ErrNotFound) {
		return a, ac.errorf(ExitConfig, "no account with ID %q", id)
	}
	if err != nil {
		return a, ac.errorf(ExitFailed, "%v", err)
	}
	return a, ExitOK
}

func (ac *accountsCmd) oneID(args []string) (string, bool) {
	if len(args) != 1 {
		ac.errorf(ExitConfig, "want one account ID")
		return "", false
	}
	return args[0], true
}

func (ac *accountsCmd) list(args []string) int {
	if len(args) > 0 {
		return ac.errorf(ExitConfig, "takes no arguments")
	}
	list, err := ac.d.Store().List(ac.ctx, account.Filter{})
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	tw := tabwriter.NewWriter(ac.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENABLED\tSERVER\tSECURITY\tUSER\tDOMAIN\tDESCRIPTION")
	for _, a := range list {
		sec := string(a.Security)
		if sec == "" {
			sec = string(account.SecurityTLS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, yesNo(a.Enabled), a.Address(), sec, a.Auth.User, a.Domain, a.Description)
	}
	if err := tw.Flush(); err != nil {
		return ExitFailed
	}
	fmt.Fprintf(ac.env.Stderr, "%d %s\n", len(list), plural(len(list), "account", "accounts"))
	return ExitOK
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (ac *accountsCmd) show(args []string) int {
	id, ok := ac.oneID(args)
	if !ok {
		return ExitConfig
	}
	a, st := ac.get(id)
	if st != ExitOK {
		return st
	}
	return ac.writeJSON(a.Redacted())
}

func (ac *accountsCmd) writeJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	fmt.Fprintf(ac.env.Stdout, "%s\n", b)
	return ExitOK
}

// accountFlags are the flags of add and edit.
type accountFlags struct {
	fs                                            *flag.FlagSet
	id, host, domain, user, security, description *string
	port                                          *int
	disabled, allowInsecure, password, jsonIn     *bool
}

func (ac *accountsCmd) flags(add bool) *accountFlags {
	fs := flag.NewFlagSet(ac.name, flag.ContinueOnError)
	fs.SetOutput(ac.env.Stderr)
	f := &accountFlags{fs: fs}
	if add {
		f.id = fs.String("id", "", "account `ID` (letters, digits, '.', '-', '_')")
		f.jsonIn = fs.Bool("json", false, "read the whole account as JSON from standard input")
	} else {
		f.password = fs.Bool("password", false, "ask for a new password (or read it from standard input)")
	}
	f.host = fs.String("host", "", "POP server `host`")
	f.port = fs.Int("port", 0, "POP server `port` (default 995 with tls, 110 otherwise)")
	f.domain = fs.String("domain", "", "local `domain` whose users receive the mail")
	f.user = fs.String("user", "", "POP `user` name")
	f.security = fs.String("security", "", "`tls` (default), starttls or none")
	f.description = fs.String("description", "", "free `text`")
	f.disabled = fs.Bool("disabled", false, "add the account disabled (edit: -disabled=false enables it)")
	f.allowInsecure = fs.Bool("allow-insecure", false, "allow a plaintext password without TLS")
	return f
}

// apply sets the fields whose flags were given.
func (f *accountFlags) apply(a *account.Account) {
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			a.ID = *f.id
		case "host":
			a.Host = *f.host
		case "port":
			a.Port = *f.port
		case "domain":
			a.Domain = *f.domain
		case "user":
			a.Auth.User = *f.user
		case "security":
			a.Security = account.Security(*f.security)
		case "description":
			a.Description = *f.description
		case "disabled":
			a.Enabled = !*f.disabled
		case "allow-insecure":
			a.Auth.AllowInsecure = *f.allowInsecure
		}
	})
}

func (ac *accountsCmd) add(args []string) int {
	f := ac.flags(true)
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() > 0 {
		return ExitConfig
	}
	var a account.Account
	if *f.jsonIn {
		b, err := io.ReadAll(io.LimitReader(ac.stdin(), 1<<20))
		if err != nil {
			return ac.errorf(ExitFailed, "%v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return ac.errorf(ExitConfig, "standard input: %v", err)
		}
		f.apply(&a)
	} else {
		a.Enabled = true
		f.apply(&a)
		if a.ID == "" || a.Host == "" || a.Domain == "" || a.Auth.User == "" {
			return ac.errorf(ExitConfig, "-id, -host, -domain and -user are required (or -json)")
		}
		pw, err := readSecret(ac.env, "Password for "+a.Auth.User+"@"+a.Host+": ", false)
		if err != nil {
			return ac.errorf(ExitConfig, "password: %v", err)
		}
		a.Auth.Secret = pw
	}
	if _, err := ac.d.Store().Get(ac.ctx, a.ID); err == nil {
		return ac.errorf(ExitConfig, "an account with ID %q exists already (use edit)", a.ID)
	}
	return ac.put(a, "added")
}

func (ac *accountsCmd) stdin() io.Reader {
	if ac.env.Stdin != nil {
		return ac.env.Stdin
	}
	return os.Stdin
}

func (ac *accountsCmd) put(a account.Account, what string) int {
	if err := a.Validate(); err != nil {
		return ac.errorf(ExitConfig, "account %s: %v", a.ID, err)
	}
	if _, err := ac.d.Store().Put(ac.ctx, a); err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	fmt.Fprintf(ac.env.Stdout, "%s %s\n", what, a.ID)
	return ExitOK
}

func (ac *accountsCmd) edit(args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return ac.errorf(ExitConfig, "want the account ID first: edit ID [flags]")
	}
	a, st := ac.get(args[0])
	if st != ExitOK {
		return st
	}
	f := ac.flags(false)
	if err := f.fs.Parse(args[1:]); err != nil || f.fs.NArg() > 0 {
		return ExitConfig
	}
	f.apply(&a)
	if *f.password {
		pw, err := readSecret(ac.env, "New password for "+a.Auth.User+"@"+a.Host+": ", true)
		if err != nil {
			return ac.errorf(ExitConfig, "password: %v", err)
		}
		a.Auth.Secret = pw
	}
	return ac.put(a, "changed")
}

func (ac *accountsCmd) setEnabled(ids []string, on bool) int {
	if len(ids) == 0 {
		return ac.errorf(ExitConfig, "want account IDs")
	}
	what := map[bool]string{true: "enabled", false: "disabled"}[on]
	for _, id := range ids {
		a, st := ac.get(id)
		if st != ExitOK {
			return st
		}
		a.Enabled = on
		if st := ac.put(a, what); st != ExitOK {
			return st
		}
	}
	return ExitOK
}

func (ac *accountsCmd) delete(ids []string) int {
	if len(ids) == 0 {
		return ac.errorf(ExitConfig, "want account IDs")
	}
	for _, id := range ids {
		if _, st := ac.get(id); st != ExitOK {
			return st
		}
	}
	if err := ac.d.Store().Delete(ac.ctx, ids...); err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	fmt.Fprintf(ac.env.Stdout, "deleted %s\n", strings.Join(ids, ", "))
	return ExitOK
}

// releaseGuard releases the deletion guard of one account.
func (ac *accountsCmd) releaseGuard(args []string) int {
	id, ok := ac.oneID(args)
	if !ok {
		return ExitConfig
	}
	if _, st := ac.get(id); st != ExitOK {
		return st
	}
	p, _ := ac.d.Pipeline()
	g, err := p.Guard(ac.ctx, id)
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	held, err := p.ReleaseGuard(ac.ctx, id)
	if errors.Is(err, multidrop.ErrAccountBusy) {
		return ac.errorf(ExitBusy, "%s is being checked; try again in a moment", id)
	}
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	if !held {
		fmt.Fprintf(ac.env.Stdout, "the deletion guard did not hold %s; its window is cleared\n", id)
		return ExitOK
	}
	fmt.Fprintf(ac.env.Stdout, "released the deletion guard of %s (held since %s: %d of the last %d messages had no valid recipient);\n"+
		"the next check deletes the messages without a valid recipient\n",
		id, g.Tripped.Local().Format(time.RFC3339), g.NoRecipient(), len(g.Window))
	return ExitOK
}

// accountsFile is the format of export and import: the JSON store's file.
type accountsFile struct {
	Version  int               `json:"version"`
	Accounts []account.Account `json:"accounts"`
}

func (ac *accountsCmd) export(args []string) int {
	if len(args) > 0 {
		return ac.errorf(ExitConfig, "takes no arguments")
	}
	list, err := ac.d.Store().List(ac.ctx, account.Filter{})
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	if list == nil {
		list = []account.Account{}
	}
	fmt.Fprintln(ac.env.Stderr, "note: the export holds the accounts' passwords; keep it private (chmod 600)")
	return ac.writeJSON(accountsFile{Version: 1, Accounts: list})
}

func (ac *accountsCmd) importFile(args []string) int {
	fs := flag.NewFlagSet(ac.name, flag.ContinueOnError)
	fs.SetOutput(ac.env.Stderr)
	rc := fs.String("fetchmailrc", "", "import the multidrop poll entries of a fetchmail configuration `file`")
	users := fs.String("users", "", "with -fetchmailrc: write the users and aliases its mappings name to this new `file` (default: standard output)")
	domain := fs.String("domain", "", "with -fetchmailrc: the local `domain` of entries without localdomains")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	if *rc != "" {
		return ac.importFetchmailrc(*rc, *users, *domain, fs.Args())
	}
	var r io.Reader = ac.stdin()
	name := "standard input"
	switch fs.NArg() {
	case 0:
	case 1:
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return ac.errorf(ExitConfig, "%v", err)
		}
		defer f.Close()
		r, name = f, fs.Arg(0)
	default:
		return ac.errorf(ExitConfig, "want at most one file")
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	// The store's own reader: the same checks (with key paths) and the
	// deleted-account records of a store's file left out.
	accts, err := jsonstore.ReadAccounts(b)
	if err != nil {
		return ac.errorf(ExitConfig, "%s: nothing imported: %v", name, err)
	}
	for _, a := range accts {
		if _, err := ac.d.Store().Put(ac.ctx, a); err != nil {
			return ac.errorf(ExitFailed, "account %s: %v", a.ID, err)
		}
	}
	fmt.Fprintf(ac.env.Stdout, "imported %d %s\n", len(accts), plural(len(accts), "account", "accounts"))
	return ExitOK
}

func (ac *accountsCmd) test(args []string) int {
	id, ok := ac.oneID(args)
	if !ok {
		return ExitConfig
	}
	a, st := ac.get(id)
	if st != ExitOK {
		return st
	}
	ctx, cancel := context.WithTimeout(ac.ctx, 2*time.Minute)
	defer cancel()
	r := probe.Test(ctx, a, nil)
	w := ac.env.Stdout
	fmt.Fprintf(w, "account:      %s\nserver:       %s\n", a.ID, r.Address)
	if c := r.Certificate; c != nil {
		fmt.Fprintf(w, "certificate:  %s\n  issuer:     %s\n  expires:    %s (%s)\n  sha256 pin: %s\n  verified:   %s\n",
			c.Subject, c.Issuer, c.NotAfter.UTC().Format(time.RFC3339), until(c.NotAfter), c.PinSHA256, yesNo(c.Verified))
		if len(c.DNSNames) > 0 {
			fmt.Fprintf(w, "  names:      %s\n", strings.Join(c.DNSNames, ", "))
		}
	} else if r.Failed == "" {
		fmt.Fprintln(w, "tls:          none (plaintext)")
	}
	if len(r.Capabilities) > 0 {
		fmt.Fprintf(w, "capabilities: %s\n", strings.Join(r.Capabilities, " "))
	}
	if r.Failed == "" {
		fmt.Fprintf(w, "mailbox:      %d %s, %s\n", r.Messages, plural(r.Messages, "message", "messages"), formatBytes(r.Size))
	} else {
		fmt.Fprintf(w, "failed at:    %s\nerror:        %v\n", r.Failed, r.Err)
	}
	fmt.Fprintf(w, "\n%s\n", r.Verdict())
	if !r.OK() {
		return ExitFailed
	}
	return ExitOK
}

func until(t time.Time) string {
	d := time.Until(t)
	if d < 0 {
		return "EXPIRED"
	}
	return "in " + strconv.Itoa(int(d.Hours()/24)) + " days"
}

func (ac *accountsCmd) preview(args []string) int {
	fs := flag.NewFlagSet(ac.name, flag.ContinueOnError)
	fs.SetOutput(ac.env.Stderr)
	max := fs.Int("max", probe.DefaultPreviewMessages, "download at most `N` messages")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	id, ok := ac.oneID(fs.Args())
	if !ok {
		return ExitConfig
	}
	a, st := ac.get(id)
	if st != ExitOK {
		return st
	}
	r, err := probe.Preview(ac.ctx, a, ac.d.previewOptions(*max))
	if r != nil {
		writePreview(ac.env.Stdout, r)
	}
	if err != nil {
		return ac.errorf(ExitFailed, "%v", err)
	}
	return ExitOK
}

// writePreview prints one block per message.
func writePreview(w io.Writer, r *probe.PreviewResult) {
	counts := map[probe.Outcome]int{}
	for _, m := range r.Messages {
		counts[m.Outcome]++
		fmt.Fprintf(w, "#%d %s  %s\n", m.Number, m.UID, formatBytes(m.Size))
		fmt.Fprintf(w, "   From:    %s\n   Subject: %s\n", m.From, m.Subject)
		fmt.Fprintf(w, "   => %s: %s\n", strings.ToUpper(string(m.Outcome)), m.Reason)
		if len(m.Recipients) > 0 {
			fmt.Fprintf(w, "   to:      %s\n", strings.Join(m.Recipients, ", "))
		}
		for _, rj := range m.Rejected {
			fmt.Fprintf(w, "   not:     %s (%s)\n", rj.Candidate.Address, strings.TrimSpace(string(rj.Reason)+" "+rj.Detail))
		}
		if m.Err != nil {
			fmt.Fprintf(w, "   error:   %v\n", m.Err)
		}
	}
	var parts []string
	for _, o := range []probe.Outcome{probe.Deliver, probe.Postmaster, probe.Drop, probe.Keep} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	slices.Sort(parts)
	fmt.Fprintf(w, "\n%d of %d messages previewed (%s); nothing was deleted or delivered.\n",
		len(r.Messages), r.Listed, strings.Join(parts, ", "))
}
