package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A log line written while the status line is shown clears it, is
// written, and the status line is drawn again below it.
func TestConsoleLogAboveStatus(t *testing.T) {
	var term bytes.Buffer
	c := &console{out: &term, log: &term}
	c.SetStatus("1/2 accounts")
	_, err := c.Write([]byte("level=WARN msg=slow\n"))
	require.NoError(t, err)
	c.SetStatus("2/2 accounts")
	c.End()
	_, err = c.Write([]byte("after\n"))
	require.NoError(t, err)
	assert.Equal(t, "\r\x1b[K1/2 accounts"+"\r\x1b[Klevel=WARN msg=slow\n1/2 accounts"+"\r\x1b[K2/2 accounts\n"+"after\n", term.String())
}

func TestLoggerDropsNilErr(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		log := NewLogger(&Config{Log: LogConfig{Format: format}}, &b, new(slog.LevelVar))
		var nilErr error
		var nilPtr *ConfigError
		log.Info("check finished", "account", "a", "err", nilErr)
		log.With("err", nilErr).Info("with", "error", nilPtr)
		log.Info("failed", "err", errors.New("boom"))
		assert.NotContains(t, b.String(), "nil", format)
		assert.NotContains(t, b.String(), "null", format)
		assert.Contains(t, b.String(), "boom", format)
		assert.Contains(t, b.String(), "account", format)
	}
}

// Main logs SIGTERM when it arrives and stops; a second signal is logged
// too and cuts.
func TestMainLogsSignals(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, nil)
	sig := make(chan os.Signal, 2)
	hup := make(chan os.Signal, 1)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(t.Context(), []string{"-config", path}, &Env{Stdout: &stderr, Stderr: &stderr, Signals: sig, Reload: hup})
	}()
	require.Eventually(t, func() bool { return bytes.Contains(stderr.Bytes(), []byte(`"msg":"started"`)) }, 10*time.Second, 10*time.Millisecond)
	hup <- syscall.SIGHUP
	require.Eventually(t, func() bool { return bytes.Contains(stderr.Bytes(), []byte(`"msg":"configuration reloaded"`)) }, 10*time.Second, 10*time.Millisecond)
	sig <- syscall.SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, ExitOK, code)
	case <-time.After(20 * time.Second):
		t.Fatal("Main did not stop on SIGTERM")
	}
	out := stderr.String()
	assert.Contains(t, out, `"msg":"signal received; reloading the configuration","signal":"SIGHUP"`)
	assert.Contains(t, out, `"msg":"signal received; stopping after the running checks (a second signal cuts them)","signal":"SIGTERM"`)
	assert.Less(t, bytes.Index(stderr.Bytes(), []byte("SIGTERM")), bytes.Index(stderr.Bytes(), []byte(`"msg":"stopped"`)), "logged on arrival, before the stop")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }
