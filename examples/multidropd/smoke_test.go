package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary builds the command and runs it as a process: -version, and a
// bad configuration file, which must exit with status 2 and a message that
// names the file, the key and the line.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "multidropd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // the packages are compiled already
	}
	build := exec.CommandContext(t.Context(), "go", append(args, ".")...)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	out, err = exec.CommandContext(t.Context(), bin, "-version").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.HasPrefix(string(out), "multidropd "), string(out))

	cfg := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(cfg, []byte("{\n  \"log\": {\"level\": \"loud\"},\n  \"directory\": {\"path\": \"u\"},\n  \"deliver\": {\"maildir\": {\"root\": \"m\"}}\n}\n"), 0o600))
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-config", cfg, "-once")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	ee, ok := errors.AsType[*exec.ExitError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, ExitConfig, ee.ExitCode())
	assert.Equal(t, "multidropd: "+cfg+`:2:11: log.level: unknown level "loud" (want debug, info, warn or error)`+"\n", stderr.String())
	assert.Empty(t, stdout.String())

	cmd = exec.CommandContext(t.Context(), bin, "-config", filepath.Join(dir, "missing.json"))
	cmd.Stderr = &stderr
	stderr.Reset()
	err = cmd.Run()
	ee, ok = errors.AsType[*exec.ExitError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, ExitConfig, ee.ExitCode())
	assert.Contains(t, stderr.String(), "missing.json: cannot read the configuration file: no such file or directory")
}
