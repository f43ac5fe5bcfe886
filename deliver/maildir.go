package deliver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/multidrop/multidrop/internal/proc"
)

// DefaultMaildirTemplate is the Template a Maildir deliverer uses when
// MaildirOptions has neither Path nor Template: one Maildir per user under
// Root, grouped by domain.
const DefaultMaildirTemplate = "{root}/{domain}/{user}/Maildir"

// MaildirOptions configures a Maildir deliverer. The zero value (with Root
// set) delivers into DefaultMaildirTemplate with key-derived file names and
// Delivered-To.
type MaildirOptions struct {
	// Path returns the Maildir of a recipient: the directory that holds
	// tmp, new and cur. It takes precedence over Template. An error it
	// returns is a temporary failure for that recipient unless it is a
	// permanent *Error.
	Path func(rcpt string) (string, error)
	// Template builds the Maildir path of a recipient from placeholders:
	//
	//	{root}     Root
	//	{domain}   the recipient's domain (the part after the last @)
	//	{user}     the recipient's local part (before the last @)
	//	{address}  the whole recipient address
	//
	// for example "{root}/{domain}/{user}/Maildir". Values are used as
	// given (recipients are canonical); one that contains a path separator
	// or NUL, is empty, or starts with a dot makes the recipient fail
	// permanently, so no address can reach outside its directory. The
	// separator is "/" on every system. "" means DefaultMaildirTemplate.
	Template string
	// Root is the value of {root}; it is required when the Template names
	// {root}.
	Root string
	// Folder is a Maildir++ subfolder to deliver into instead of the
	// inbox, e.g. "Spam" or "Lists.Go" (the directory ".Spam" or
	// ".Lists.Go" in the Maildir); "" means the inbox.
	Folder string
	// Create makes missing Maildirs (and their parents, and the folder
	// with its maildirfolder marker) with DirMode. When false, a missing
	// Maildir is a temporary failure: the user exists, the mail waits.
	Create bool
	// DirMode is the permission of directories made by Create; 0 means
	// 0700.
	DirMode os.FileMode
	// FileMode is the permission of message files; 0 means 0600.
	FileMode os.FileMode
	// LF stores messages with LF line endings (the Maildir convention of
	// qmail and Courier): each CRLF becomes LF as the message streams;
	// every other byte, a lone CR included, stays as it is. Dovecot reads
	// either form.
	LF bool
	// NoKeyNames gives every file a unique name. By default (false) each
	// file is named after the message's identity (Envelope.Trace: Account,
	// Key and Digest) and the recipient instead, so that a second delivery
	// of the same message to the same recipient — after a crash between
	// the delivery and its record in the journal — finds the first (in new/
	// or, moved there by a mail reader, in cur/) and reports Delivered
	// without a second copy. Messages with an empty key get a unique name. Finding a file in cur/ reads that directory; the
	// deliverer keeps what it found and reads it again only once it
	// changed (its modification or change time, or its inode), so a cur/
	// settled for 100 ms (1.1 s with times in whole seconds) with up to
	// 16,384 such names costs one stat per delivery. That is on Linux, and
	// on a local file system (ext2/3/4, XFS, btrfs, tmpfs, F2FS, ZFS,
	// overlayfs) only: on NFS, whose times come from the server's clock, or
	// elsewhere, cur/ is read for each delivery. A clock stepped back to the
	// very tick of a change in cur/ could hide a file moved there: a second
	// copy, never a loss.
	NoKeyNames bool
	// KeyNames is ignored: key-derived names are the default.
	//
	// Deprecated: set NoKeyNames to turn key-derived names off.
	KeyNames bool
	// Separate writes one file per recipient, each with its own
	// Delivered-To and Received "for" clause. When false (the default) a
	// message is written once and hard-linked to every other recipient on
	// the same file system (copied to the others); a file shared by
	// several recipients carries neither, so no recipient sees another's
	// address.
	Separate bool
	// TraceOptions are the trace fields prepended to each message and
	// the header hygiene applied to it. Delivered-To is added to files
	// written for a single recipient (with Separate, every file; else only
	// when the message has one recipient in this Maildir deliverer) whatever
	// TraceOptions.DeliveredTo says, unless NoDeliveredTo is set.
	TraceOptions
	// NoDeliveredTo leaves Delivered-To out of every file.
	NoDeliveredTo bool
	// Host is the host part of unique file names; "" means the machine's
	// host name. "/" and ":" are written as \057 and \072 (maildir(5)).
	Host string
	// SpoolDir is where a message that cannot be read at an offset (an
	// io.ReaderAt with io.Seeker or a Size method) and must be read more
	// than once is spooled when larger than 1 MiB; "" means os.TempDir().
	SpoolDir string
}

// Maildir delivers into Maildirs (maildir(5), Maildir++) on local file
// systems. Each message is written under tmp/, fsynced, moved into new/
// without replacing an existing file (renamed with RENAME_NOREPLACE on
// Linux, for the last recipient of the file; hard-linked otherwise, the
// tmp/ entry removed after), and new/ is fsynced, once for the concurrent
// deliveries into it, before the recipient is reported Delivered. Any
// failure of the file system (ENOSPC, EDQUOT, EIO, a short write, a failed
// fsync or close) removes what was written and is a temporary failure.
//
// Files under tmp/ are named after the host, the process and a random tag
// of the process. The first delivery into a Maildir in a process sweeps its
// tmp/: it removes what this host's dead processes left there (a copy
// half-written, or the tmp/ name of a file already linked into new/, when a
// process was killed) and any file older than 36 hours (maildir(5)); a file
// of a live process of this host, or of another host, is left until it is
// that old. Processes sharing Maildirs must therefore have distinct Host
// names (as maildir(5) unique names require anyway).
//
// A Maildir checked (or made, with Create) once is not checked again for
// each delivery; one removed while the deliverer runs costs a temporary
// failure, and the next delivery checks (or makes) it again.
//
// Files are written with the credentials of the calling process: run the
// delivering process as the owner of the Maildirs (a virtual-mail user, for
// one). Maildir needs a Unix file system (link(2) and fsync of a directory).
type Maildir struct {
	opts     MaildirOptions
	template []tmplPart
	folder   string // ".Folder" or ""
	host     string
	fs       maildirFS

	ready  sync.Map     // directory → struct{}: checked (or made) by prepare
	swept  sync.Map     // directory → struct{}: tmp/ swept (see sweepTmp)
	curs   sync.Map     // cur/ directory → *curScan, with key-derived names
	cached atomic.Int64 // names in curs
	// noRename holds the new/ directories where renameNoReplace is not
	// offered (link and unlink instead).
	noRename sync.Map

	syncMu sync.Mutex          // guards syncs and the dirSyncs in it
	syncs  map[string]*dirSync // the new/ directories being fsynced
}

// dirSync coalesces the fsyncs of one directory by concurrent deliveries:
// each waits for a sync begun after its link, and one sync serves every
// link made before it began. A delivery announces the directories it will
// link into before it writes its file (coming); the delivery that would
// begin a sync while others are coming waits for them, up to
// dirSyncDelay, so that one sync serves them too (a group commit, as the
// journal's).
type dirSync struct {
	cond      sync.Cond // L is Maildir.syncMu
	started   uint64    // syncs begun
	finished  uint64    // syncs ended
	running   bool
	gathering bool   // a delivery waits for those coming before it begins a sync
	failed    uint64 // the number of the last sync that failed, 0 if none
	err       error  // its error
	users     int    // deliveries in syncDir
	coming    int    // deliveries announced by expectSync, not yet in syncDir
}

// dirSyncDelay bounds the wait of a directory's sync for the deliveries
// into it that are still writing their files.
const dirSyncDelay = 2 * time.Millisecond

// dirSync returns dir's dirSync, made if needed; syncMu is held.
func (m *Maildir) dirSync(dir string) *dirSync {
	if m.syncs == nil {
		m.syncs = map[string]*dirSync{}
	}
	d := m.syncs[dir]
	if d == nil {
		d = &dirSync{}
		d.cond.L = &m.syncMu
		m.syncs[dir] = d
	}
	return d
}

// dropSync forgets dir's dirSync when no delivery uses it; syncMu is held.
func (m *Maildir) dropSync(dir string, d *dirSync) {
	if d.users == 0 && d.coming == 0 {
		delete(m.syncs, dir)
	}
}

// expectSync announces a delivery that will link into dir and then call
// syncDir(dir, true) or, if it links nothing, cancelSync(dir).
func (m *Maildir) expectSync(dir string) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	m.dirSync(dir).coming++
}

// cancelSync withdraws an expectSync.
func (m *Maildir) cancelSync(dir string) {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	d := m.syncs[dir]
	d.coming--
	d.cond.Broadcast()
	m.dropSync(dir, d)
}

// syncDir fsyncs dir after the caller's changes to it: with a sync begun
// since, which other callers may share. expected says the caller announced
// itself with expectSync. It fails when any sync that ended while the
// caller waited failed (a failed sync may have lost the directory's
// changes, and the next may not report it again).
func (m *Maildir) syncDir(dir string, expected bool) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	d := m.dirSync(dir)
	if expected {
		d.coming--
		d.cond.Broadcast()
	}
	d.users++
	defer func() {
		d.users--
		m.dropSync(dir, d)
	}()
	arrived := d.finished
	need := d.started + 1 // the next sync to begin
	for d.finished < need {
		if d.running || d.gathering {
			d.cond.Wait()
			continue
		}
		if d.coming > 0 {
			// Others are writing files to link here: wait for them
			// (they arrive before the sync begins, so it serves them).
			d.gathering = true
			expired := false
			t := time.AfterFunc(dirSyncDelay, func() {
				m.syncMu.Lock()
				expired = true
				d.cond.Broadcast()
				m.syncMu.Unlock()
			})
			for !expired && d.coming > 0 {
				d.cond.Wait()
			}
			t.Stop()
			d.gathering = false
		}
		d.running = true
		d.started++
		m.syncMu.Unlock()
		err := m.fs.SyncDir(dir)
		m.syncMu.Lock()
		d.running, d.finished = false, d.started
		if err != nil {
			d.failed, d.err = d.started, err
		}
		d.cond.Broadcast()
	}
	if d.failed > arrived {
		return d.err
	}
	return nil
}

// curScan is what a reading of a cur/ directory found: the key-derived
// names in it, valid while the directory's stamp (modification and change
// times, inode) stays the same.
type curScan struct {
	stamp dirStamp
	names map[string]struct{}
}

// Scans of cur/ are kept only for directories on a local file system (see
// settled) last modified long enough before the scan, with at most
// maxDirNames key-derived names, and maxCachedNames in all.
const (
	maxDirNames    = 1 << 14
	maxCachedNames = 1 << 16
)

var _ Deliverer = (*Maildir)(nil)

// NewMaildir returns a Maildir deliverer, or an error when the options are
// invalid.
func NewMaildir(opts *MaildirOptions) (*Maildir, error) {
	m := &Maildir{fs: osFS{}}
	if opts != nil {
		m.opts = *opts
	}
	o := &m.opts
	if o.Path == nil {
		if o.Template == "" {
			o.Template = DefaultMaildirTemplate
		}
		t, err := parseTemplate(o.Template)
		if err != nil {
			return nil, err
		}
		if o.Root == "" && slices.Contains(t, tmplPart{ph: "root"}) {
			return nil, fmt.Errorf("deliver: maildir: Root is required by the template %q", o.Template)
		}
		m.template = t
	}
	o.TraceOptions.DeliveredTo = !o.NoDeliveredTo
	if o.Folder != "" {
		f := strings.TrimPrefix(o.Folder, ".")
		if f == "" || strings.ContainsAny(f, "/\\\x00") || strings.Contains(f, "..") || strings.HasSuffix(f, ".") {
			return nil, fmt.Errorf("deliver: maildir: invalid folder %q", o.Folder)
		}
		m.folder = "." + f
	}
	if o.DirMode == 0 {
		o.DirMode = 0o700
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	if o.TraceOptions.Hygiene.checkPrefix() != nil {
		return nil, fmt.Errorf("deliver: maildir: invalid rename prefix %q", o.TraceOptions.Hygiene.RenamePrefix)
	}
	if _, err := localHost(o.TraceOptions.LocalHost); err != nil {
		return nil, fmt.Errorf("deliver: maildir: %w", err)
	}
	h := o.Host
	if h == "" {
		h, _ = os.Hostname()
		if h == "" {
			h = "localhost"
		}
	}
	h = strings.ReplaceAll(h, "/", `\057`)
	h = strings.ReplaceAll(h, ":", `\072`)
	m.host = h
	return m, nil
}

// tmplPart is a literal or a placeholder of a path template.
type tmplPart struct {
	lit string
	ph  string // "root", "domain", "user", "address" or ""
}

func parseTemplate(t string) ([]tmplPart, error) {
	var parts []tmplPart
	for t != "" {
		i := strings.IndexAny(t, "{}")
		if i < 0 {
			parts = append(parts, tmplPart{lit: t})
			break
		}
		if t[i] == '}' {
			return nil, fmt.Errorf("deliver: maildir: template: unmatched }")
		}
		if i > 0 {
			parts = append(parts, tmplPart{lit: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("deliver: maildir: template: unmatched {")
		}
		ph := t[i+1 : i+j]
		switch ph {
		case "root", "domain", "user", "address":
		default:
			return nil, fmt.Errorf("deliver: maildir: template: unknown placeholder {%s}", ph)
		}
		parts = append(parts, tmplPart{ph: ph})
		t = t[i+j+1:]
	}
	return parts, nil
}

// pathFor returns the directory to deliver rcpt's messages into (the
// folder, when one is set) and its Maildir root.
func (m *Maildir) pathFor(rcpt string) (dir, root string, err error) {
	if m.opts.Path != nil {
		root, err = m.opts.Path(rcpt)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				err = &Error{Code: 451, Enhanced: "4.3.0", Message: fmt.Sprintf("maildir: no path for <%s>", rcpt), Err: err}
			}
			return "", "", err
		}
		if root == "" {
			return "", "", &Error{Code: 451, Enhanced: "4.3.0", Message: fmt.Sprintf("maildir: empty path for <%s>", rcpt)}
		}
	} else {
		at := strings.LastIndexByte(rcpt, '@')
		user, domain := rcpt[:at], rcpt[at+1:]
		var b strings.Builder
		for _, p := range m.template {
			var v string
			switch p.ph {
			case "":
				b.WriteString(p.lit)
				continue
			case "root":
				b.WriteString(m.opts.Root)
				continue
			case "domain":
				v = domain
			case "user":
				v = user
			case "address":
				v = rcpt
			}
			if v == "" || v[0] == '.' || strings.ContainsAny(v, "/\\\x00") {
				return "", "", &Error{Code: 550, Enhanced: "5.1.3", Message: fmt.Sprintf("maildir: address <%s> cannot name a directory", rcpt), Perm: true}
			}
			b.WriteString(v)
		}
		root = filepath.FromSlash(b.String())
	}
	dir = root
	if m.folder != "" {
		dir = filepath.Join(root, m.folder)
	}
	return dir, root, nil
}

// prepareOnce prepares a Maildir not prepared yet, or forgotten since (see
// failure).
func (m *Maildir) prepareOnce(dir, root string) error {
	if _, ok := m.ready.Load(dir); ok {
		return nil
	}
	if err := m.prepare(dir, root); err != nil {
		return err
	}
	if _, swept := m.swept.LoadOrStore(dir, struct{}{}); !swept {
		m.sweepTmp(dir, time.Now())
	}
	m.ready.Store(dir, struct{}{})
	return nil
}

// prepare checks (or with Create makes) the Maildir directories.
func (m *Maildir) prepare(dir, root string) error {
	if m.opts.Create {
		dirs := []string{dir}
		if dir != root {
			dirs = append(dirs, root)
		}
		for _, d := range dirs {
			for _, sub := range []string{"tmp", "new", "cur"} {
				if err := m.fs.MkdirAll(filepath.Join(d, sub), m.opts.DirMode); err != nil {
					return storageError("creating the Maildir "+d, err)
				}
			}
		}
		if dir != root {
			marker := filepath.Join(dir, "maildirfolder")
			if _, err := m.fs.Stat(marker); errors.Is(err, os.ErrNotExist) {
				f, err := m.fs.Create(marker, m.opts.FileMode)
				if err == nil {
					err = f.Close()
				}
				if err != nil && !errors.Is(err, os.ErrExist) {
					return storageError("creating "+marker, err)
				}
			}
		}
		return nil
	}
	for _, sub := range []string{"tmp", "new"} {
		fi, err := m.fs.Stat(filepath.Join(dir, sub))
		if err != nil {
			return storageError("Maildir "+dir+" is missing or unreadable", err)
		}
		if !fi.IsDir() {
			return storageError("Maildir "+dir, fmt.Errorf("%s is not a directory", sub))
		}
	}
	return nil
}

// failure is storageError for t's Maildir; a part of it missing (removed
// since prepare saw it) makes the next delivery check or make it again.
func (m *Maildir) failure(t *maildirTarget, what string, err error) *Error {
	if errors.Is(err, os.ErrNotExist) {
		m.ready.Delete(t.dir)
	}
	return storageError(what, err)
}

// storageError is the temporary *Error for a file system failure, with the
// enhanced code (RFC 3463) that says why.
func storageError(what string, err error) *Error {
	e := &Error{Code: 451, Enhanced: "4.3.0", Message: "maildir: " + what, Err: err}
	switch {
	case errors.Is(err, syscall.EDQUOT):
		e.Code, e.Enhanced = 452, "4.2.2" // mailbox full
	case errors.Is(err, syscall.ENOSPC):
		e.Code, e.Enhanced = 452, "4.3.1" // mail system full
	}
	return e
}

// maildirTarget is one recipient's delivery in progress.
type maildirTarget struct {
	i      int    // index in env.To
	rcpt   string // recipient
	dir    string // directory holding tmp, new, cur
	key    string // key-derived base name, "" for unique names
	newLnk string // the link made in new/, once made
}

// maildirSeq makes unique names unique within the process.
var maildirSeq atomic.Uint64

// pid is this process's id in unique names, read once (a system call).
var pid = strconv.Itoa(os.Getpid())

// uniqueName is a unique name for a file in new/ (NoKeyNames, or no key).
func (m *Maildir) uniqueName() string { return m.name("") }

// tmpName is a unique name for a file under tmp/: uniqueName with the
// process's random instance tag after the sequence number
// ("...P<pid>Q<seq>R<tag>.<host>"), so that sweepTmp tells the leftovers of
// an earlier process that had the same pid (a restarted container's
// daemon, typically) from this process's own files.
func (m *Maildir) tmpName() string { return m.name("R" + proc.Tag) }

// name is a maildir(5) unique name: seconds, microseconds, pid and a
// sequence number of this process, tag, and the host.
func (m *Maildir) name(tag string) string {
	now := time.Now()
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + pid + "Q" + strconv.FormatUint(maildirSeq.Add(1), 10) + tag + "." + m.host
}

// tmpMaxAge is the age past which any file in tmp/ is removed (maildir(5)).
const tmpMaxAge = 36 * time.Hour

// tmpNameRE matches the names of files written under tmp/ by tmpName (and,
// without the R part, by earlier releases): the pid, the instance tag and
// the host.
var tmpNameRE = regexp.MustCompile(`^[0-9]+\.M[0-9]+P([0-9]+)Q[0-9]+(?:R([0-9a-f]+))?\.(.+)$`)

// sweepTmp removes from dir/tmp the files that no live process is writing:
// those this deliverer's host wrote from a process that is gone (the pid in
// the name no longer runs, or it is this process's pid with another
// instance tag) and any file older than tmpMaxAge (maildir(5)), except this
// process's own. Files of this host's live processes and of other hosts
// are left until they are that old. These are leftovers of a crash: partial
// copies and second links of files delivered into new/. The sweep is best
// effort: a failure leaves the files for the next process.
func (m *Maildir) sweepTmp(dir string, now time.Time) {
	tmp := filepath.Join(dir, "tmp")
	var names []string
	_ = m.fs.ReadDirNames(tmp, func(name string) bool {
		names = append(names, name)
		return true
	})
	for _, name := range names {
		path := filepath.Join(tmp, name)
		if sm := tmpNameRE.FindStringSubmatch(name); sm != nil && sm[3] == m.host {
			owner, tag := sm[1], sm[2]
			if owner == pid && tag == proc.Tag {
				continue // this process's: its writer removes it
			}
			if n, err := strconv.Atoi(owner); owner == pid || err == nil && proc.Gone(n) {
				_ = m.fs.Remove(path)
				continue
			}
		}
		fi, err := m.fs.Stat(path)
		if err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > tmpMaxAge {
			_ = m.fs.Remove(path)
		}
	}
}

// keyName is the file name derived from a message key and a recipient.
func keyName(tr Trace, rcpt string) string {
	h := sha256.Sum256([]byte(tr.Account + "\x00" + tr.Key + "\x00" + tr.Digest + "\x00" + rcpt))
	return "multidrop." + hex.EncodeToString(h[:20])
}

// Deliver implements Deliverer. A recipient named twice in env.To gets one
// file and the same result twice. The error reports a message that could not
// be read (or a context that ended), with the results saying which
// recipients it left temporary; file system failures are in the results.
func (m *Maildir) Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	res, err := m.deliver(ctx, env, msg)
	for i, rcpt := range env.To {
		if j := slices.Index(env.To, rcpt); j < i {
			res[i] = res[j]
		}
	}
	return res, err
}

func (m *Maildir) deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	res := make(Results, len(env.To))
	var targets []*maildirTarget
	seen := make(map[string]bool, len(env.To))
	for i, rcpt := range env.To {
		res[i] = Result{Recipient: rcpt, Status: Temporary}
		if seen[rcpt] {
			continue // Deliver copies the first one's result
		}
		seen[rcpt] = true
		if err := checkAddress(rcpt); err != nil {
			res[i].Status, res[i].Err = Permanent, err
			continue
		}
		dir, root, err := m.pathFor(rcpt)
		if err == nil {
			err = m.prepareOnce(dir, root)
		}
		if err != nil {
			res[i].Err = err
			if !IsTemporary(err) {
				res[i].Status = Permanent
			}
			continue
		}
		t := &maildirTarget{i: i, rcpt: rcpt, dir: dir}
		if !m.opts.NoKeyNames && env.Trace.Key != "" {
			t.key = keyName(env.Trace, rcpt)
			found, err := m.present(t)
			if err != nil {
				res[i].Err = m.failure(t, "looking for an earlier delivery in "+dir, err)
				continue
			}
			if found {
				res[i].Status = Delivered
				continue
			}
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return res, nil
	}

	rr, err := newRereader(msg, len(targets) > 1, m.opts.SpoolDir)
	if err != nil {
		for _, t := range targets {
			res[t.i].Err = err
		}
		return res, err
	}
	defer rr.Close()

	var groups [][]*maildirTarget
	if m.opts.Separate {
		for _, t := range targets {
			groups = append(groups, []*maildirTarget{t})
		}
	} else {
		groups = [][]*maildirTarget{targets}
	}
	var srcErr error
	for _, g := range groups {
		if srcErr != nil {
			for _, t := range g {
				res[t.i].Err = srcErr
			}
			continue
		}
		srcErr = m.deliverGroup(ctx, env, rr, g, res)
	}
	return res, srcErr
}

// present reports whether t's key-derived name is already in cur/ (where a
// mail reader moves it from new/, adding flags to the name). cur/ is read
// again only when it changed since it was last read. One in new/ is found
// when the file is moved there: the move never replaces a file (see
// linkNew), so no look-up comes first — it would cost a path look-up for
// every delivery to spare a write only after a crash. (The file written
// then counts that recipient among those sharing it, so it carries no
// Delivered-To when another recipient of the group still needed it.)
func (m *Maildir) present(t *maildirTarget) (bool, error) {
	cur := filepath.Join(t.dir, "cur")
	fi, err := m.fs.Stat(cur)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	stamp, stamped := stampOf(fi)
	if v, ok := m.curs.Load(cur); ok && stamped && v.(*curScan).stamp == stamp {
		_, found := v.(*curScan).names[t.key]
		return found, nil
	}
	scanned := time.Now()
	names := map[string]struct{}{}
	err = m.fs.ReadDirNames(cur, func(name string) bool {
		if !strings.HasPrefix(name, "multidrop.") {
			return true
		}
		if i := strings.IndexAny(name, ":,"); i >= 0 {
			name = name[:i]
		}
		names[name] = struct{}{}
		return true
	})
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var keep *curScan
	if stamped && len(names) <= maxDirNames && m.cached.Load()+int64(len(names)) <= maxCachedNames &&
		settled(cur, fi, scanned) {
		keep = &curScan{stamp: stamp, names: names}
		m.cached.Add(int64(len(names)))
	}
	var old any
	var had bool
	if keep != nil {
		old, had = m.curs.Swap(cur, keep)
	} else {
		old, had = m.curs.LoadAndDelete(cur)
	}
	if had {
		m.cached.Add(-int64(len(old.(*curScan).names)))
	}
	_, found := names[t.key]
	return found, nil
}

// written is a message file complete and fsynced under some tmp/.
type written struct {
	tmp  string
	size int64
}

// errSource marks a failure to read the message (or the context ending):
// no other recipient can be served either.
type errSource struct{ err error }

func (e *errSource) Error() string { return e.err.Error() }
func (e *errSource) Unwrap() error { return e.err }

// deliverGroup writes one file for the recipients of g (who share its
// bytes) and links or copies it to each. It returns an error only when the
// message itself could not be read or the context ended; file system
// failures are per-recipient results.
func (m *Maildir) deliverGroup(ctx context.Context, env Envelope, rr *rereader, g []*maildirTarget, res Results) error {
	rcpts := make([]string, len(g))
	for i, t := range g {
		rcpts[i] = t.rcpt
	}
	prelude, err := m.opts.TraceOptions.Prelude(env, rcpts)
	if err != nil {
		for _, t := range g {
			res[t.i].Err = err
			if !IsTemporary(err) {
				res[t.i].Status = Permanent
			}
		}
		return nil
	}

	var files []written // written copies, link sources for the others
	var linked []*maildirTarget
	defer func() {
		for _, w := range files {
			_ = m.fs.Remove(w.tmp)
		}
	}()
	// Announce the new/ directories this group will sync, so that a sync
	// of one by another delivery waits for this one's link (see dirSync).
	expected := map[string]bool{}
	for _, t := range g {
		if nd := filepath.Join(t.dir, "new"); !expected[nd] {
			expected[nd] = true
			m.expectSync(nd)
		}
	}
	defer func() {
		for nd, still := range expected {
			if still {
				m.cancelSync(nd)
			}
		}
	}()
	// stop is set when the rest of the group cannot be served (the context
	// ended, the message cannot be read); the links made so far are still
	// committed below, so that no file sits in new/ unreported.
	var stop error
	for k, t := range g {
		if err := ctx.Err(); err != nil {
			for _, t := range g[k:] {
				res[t.i].Err = err
			}
			stop = err
			break
		}
		// The last recipient takes the file written for it (or for the
		// others) by renaming it into new/; the others link it.
		last := k == len(g)-1
		// Link a copy already written, when one is on this file system.
		done := false
		var lastErr error
		for j, w := range files {
			moved, err := m.linkNew(w, t, last)
			if moved {
				files = slices.Delete(files, j, j+1)
			}
			if err == nil {
				done = true
				break
			}
			if errors.Is(err, errAlreadyThere) {
				res[t.i].Status = Delivered
				done = true
				break
			}
			lastErr = err
		}
		if done {
			if t.newLnk != "" {
				linked = append(linked, t)
			}
			continue
		}
		// Write a copy: from a written one (other file system) or from the
		// message.
		var w written
		if len(files) > 0 {
			w, err = m.copyFile(files[0], t)
		} else {
			w, err = m.writeMessage(ctx, rr, prelude, t)
		}
		if err != nil {
			var se *errSource
			if errors.As(err, &se) {
				for _, t := range g[k:] {
					res[t.i].Err = &Error{Message: "maildir: reading the message", Err: se.err}
				}
				stop = se.err
				break
			}
			if lastErr != nil {
				err = fmt.Errorf("%w (after link: %v)", err, lastErr)
			}
			res[t.i].Err = m.failure(t, "writing to "+t.dir, err)
			continue
		}
		files = append(files, w)
		moved, err := m.linkNew(w, t, last)
		if moved {
			files = files[:len(files)-1]
		}
		if err != nil {
			if errors.Is(err, errAlreadyThere) {
				res[t.i].Status = Delivered
				continue
			}
			res[t.i].Err = m.failure(t, "linking into "+filepath.Join(t.dir, "new"), err)
			continue
		}
		linked = append(linked, t)
	}

	// Group commit: each new/ once, then the recipients are delivered.
	synced := map[string]error{}
	for _, t := range linked {
		nd := filepath.Join(t.dir, "new")
		err, ok := synced[nd]
		if !ok {
			expected[nd] = false
			err = m.syncDir(nd, true)
			synced[nd] = err
		}
		if err != nil {
			// The link may not survive a crash; take it back so that the
			// retry does not leave a second copy.
			_ = m.fs.Remove(t.newLnk)
			res[t.i].Err = m.failure(t, "syncing "+nd, err)
			continue
		}
		res[t.i].Status, res[t.i].Err = Delivered, nil
	}
	return stop
}

// errAlreadyThere reports a key-derived name found in new/ at link time.
var errAlreadyThere = errors.New("already delivered")

// maxNameTries bounds the retries after a unique name collision.
const maxNameTries = 8

// errNoRename says that renaming without replacing is not offered (by the
// system or the file system): link and unlink instead.
var errNoRename = errors.New("rename without replacing is not supported")

// linkNew hard-links w into t's new/ directory or, with move, renames it
// there (moved says it did: w's tmp/ name is gone). It never replaces a
// file: a unique name that exists is replaced by another, a key-derived one
// means the message is there already (errAlreadyThere). Renaming needs
// renameat2 with RENAME_NOREPLACE (Linux); where it is not offered,
// linkNew links.
func (m *Maildir) linkNew(w written, t *maildirTarget, move bool) (moved bool, err error) {
	nd := filepath.Join(t.dir, "new")
	if move {
		if _, no := m.noRename.Load(nd); no {
			move = false
		}
	}
	for range maxNameTries {
		base := t.key
		if base == "" {
			base = m.uniqueName() + ",S=" + strconv.FormatInt(w.size, 10)
		}
		dst := filepath.Join(nd, base)
		if move {
			err = m.fs.RenameNoReplace(w.tmp, dst)
			if errors.Is(err, errNoRename) {
				m.noRename.Store(nd, struct{}{})
				move = false
			}
		}
		if !move {
			err = m.fs.Link(w.tmp, dst)
		}
		if err == nil {
			t.newLnk = dst
			return move, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return false, err
		}
		if t.key != "" {
			return false, errAlreadyThere
		}
	}
	return false, errors.New("no free unique name in new/")
}

// createTmp creates a new file under dir/tmp with a unique name that also
// names this process (see tmpName).
func (m *Maildir) createTmp(dir string) (maildirFile, string, error) {
	for range maxNameTries {
		name := filepath.Join(dir, "tmp", m.tmpName())
		f, err := m.fs.Create(name, m.opts.FileMode)
		if err == nil {
			return f, name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", err
		}
	}
	return nil, "", errors.New("no free unique name in tmp/")
}

// copyBufs holds the buffers of file writes.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// copyFull copies src to dst in writes of a full buffer (the last one
// excepted): the readers of a message (trace fields, header hygiene) return
// a line or a few at a time, and a write per read would be a system call
// for each.
func copyFull(dst io.Writer, src io.Reader, buf []byte) error {
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return err
		}
	}
}

// writeMessage writes the message for t under t's tmp/ and fsyncs it. A
// failure to read the message is an *errSource.
func (m *Maildir) writeMessage(ctx context.Context, rr *rereader, prelude []byte, t *maildirTarget) (written, error) {
	body := m.opts.TraceOptions.Hygiene.Reader(&sourceReader{ctx: ctx, r: rr.Reader()})
	src := io.MultiReader(bytes.NewReader(prelude), body)
	return m.writeFile(t.dir, src)
}

// copyFile copies a written file to t's tmp/ (another file system).
func (m *Maildir) copyFile(from written, t *maildirTarget) (written, error) {
	r, err := m.fs.Open(from.tmp)
	if err != nil {
		return written{}, err
	}
	defer r.Close()
	return m.writeFile(t.dir, r)
}

// writeFile writes src to a new file under dir/tmp, fsyncs and closes it;
// on any failure the file is removed.
func (m *Maildir) writeFile(dir string, src io.Reader) (w written, err error) {
	f, name, err := m.createTmp(dir)
	if err != nil {
		return written{}, err
	}
	defer func() {
		if err != nil {
			_ = m.fs.Remove(name)
		}
	}()
	cw := &countWriter{w: f}
	var dst io.Writer = cw
	var lf *lfWriter
	if m.opts.LF {
		lf = &lfWriter{w: cw}
		dst = lf
	}
	bp := copyBufs.Get().(*[]byte)
	err = copyFull(dst, src, *bp)
	copyBufs.Put(bp)
	if err == nil && lf != nil {
		err = lf.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return written{}, err
	}
	return written{tmp: name, size: cw.n}, nil
}

// sourceReader reads the message, marking its errors as *errSource and
// stopping when the context ends.
type sourceReader struct {
	ctx context.Context
	r   io.Reader
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, &errSource{err}
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &errSource{err}
	}
	return n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// lfWriter turns each CRLF into LF as bytes stream through it; a CR that
// ends one write is held until the next byte is known.
type lfWriter struct {
	w   io.Writer
	cr  bool // a CR is held back
	out []byte
}

func (l *lfWriter) Write(p []byte) (int, error) {
	out := l.out[:0]
	rest := p
	if l.cr && len(rest) > 0 {
		l.cr = false
		if rest[0] != '\n' {
			out = append(out, '\r')
		}
	}
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			out = append(out, rest...)
			break
		}
		out = append(out, rest[:i]...)
		switch {
		case i+1 == len(rest):
			l.cr = true
		case rest[i+1] == '\n':
			// CRLF: the LF is copied with what follows.
		default:
			out = append(out, '\r')
		}
		rest = rest[i+1:]
	}
	l.out = out
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes a CR still held back.
func (l *lfWriter) Close() error {
	if l.cr {
		l.cr = false
		_, err := l.w.Write([]byte{'\r'})
		return err
	}
	return nil
}

// maildirFS is the file system seam of Maildir (tests inject failures).
type maildirFS interface {
	Create(name string, perm os.FileMode) (maildirFile, error) // exclusive
	Open(name string) (io.ReadCloser, error)
	Link(oldname, newname string) error
	// RenameNoReplace renames unless newname exists (os.ErrExist);
	// errNoRename where that is not offered.
	RenameNoReplace(oldname, newname string) error
	Remove(name string) error
	MkdirAll(name string, perm os.FileMode) error
	Stat(name string) (os.FileInfo, error)
	SyncDir(name string) error
	// ReadDirNames calls fn for the names in a directory until fn
	// returns false.
	ReadDirNames(name string, fn func(string) bool) error
}

type maildirFile interface {
	io.Writer
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) Create(name string, perm os.FileMode) (maildirFile, error) {
	return createFile(name, perm)
}
func (osFS) Open(name string) (io.ReadCloser, error)       { return os.Open(name) }
func (osFS) Link(oldname, newname string) error            { return os.Link(oldname, newname) }
func (osFS) RenameNoReplace(oldname, newname string) error { return renameNoReplace(oldname, newname) }
func (osFS) Remove(name string) error                      { return os.Remove(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error  { return os.MkdirAll(name, perm) }
func (osFS) Stat(name string) (os.FileInfo, error)         { return os.Stat(name) }

func (osFS) SyncDir(name string) error { return syncDir(name) }

func (osFS) ReadDirNames(name string, fn func(string) bool) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if !fn(n) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
