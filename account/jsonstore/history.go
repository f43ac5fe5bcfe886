package jsonstore

import (
	"context"

	"github.com/multidrop/multidrop/account"
)

type historyFile struct {
	Version  int                              `json:"version"`
	Accounts map[string][]account.CheckRecord `json:"accounts"` // newest first
}

func (f *historyFile) version() int { return f.Version }
func (f *historyFile) setVersion()  { f.Version = formatVersion }

// History is an [account.History] kept in its own JSON file, conventionally
// beside the accounts file (accounts.json, history.json), so that
// recording a check rewrites neither the configuration nor the journal.
// The file is rewritten and fsynced by every AddCheck, like the other files
// of the package; it holds at most [account.HistoryLimit] records per
// account.
type History struct {
	f *file[historyFile, *historyFile]
}

var _ account.History = (*History)(nil)

// OpenHistory returns the history in the file at path, which need not
// exist yet. The lock file is path + ".lock". It fails with a
// [*CorruptError] when the file does not decode.
func OpenHistory(path string, opts *Options) (*History, error) {
	_ = opts // no option applies to the history yet
	f, err := openFile[historyFile](path)
	if err != nil {
		return nil, err
	}
	return &History{f: f}, nil
}

// Close releases the lock file.
func (h *History) Close() error { return h.f.close() }

// AddCheck implements [account.History].
func (h *History) AddCheck(ctx context.Context, rec account.CheckRecord) error {
	if rec.AccountID == "" {
		return account.ErrNoAccountID
	}
	rec = rec.Clone()
	return h.f.update(ctx, func(v *historyFile) error {
		if v.Accounts == nil {
			v.Accounts = map[string][]account.CheckRecord{}
		}
		v.Accounts[rec.AccountID] = account.InsertCheck(v.Accounts[rec.AccountID], rec)
		return nil
	})
}

// Checks implements [account.History].
func (h *History) Checks(ctx context.Context, accountID string, limit int) ([]account.CheckRecord, error) {
	var out []account.CheckRecord
	err := h.f.read(ctx, func(v *historyFile) error {
		out = account.CloneChecks(v.Accounts[accountID], limit)
		return nil
	})
	return out, err
}
