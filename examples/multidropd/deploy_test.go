package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unitFile parses a systemd unit: section -> key -> values (a key may
// repeat).
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := map[string]map[string][]string{}
	var sec string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			sec = strings.Trim(line, "[]")
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "line %q", line)
			require.NotEmpty(t, sec, "key outside a section")
			u[sec][k] = append(u[sec][k], v)
		}
	}
	require.NoError(t, sc.Err())
	return u
}

// under reports whether path is dir or below it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// TestSystemdUnit checks the unit's sandboxing and that the paths it
// opens for writing are those of multidropd.example.json (and CONFIG.md's
// default configuration path); systemd-analyze verify runs when present.
func TestSystemdUnit(t *testing.T) {
	u := unitFile(t, "multidropd.service")
	s := u["Service"]
	require.NotNil(t, s)
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "RestrictSUIDSGID": "yes", "MemoryDenyWriteExecute": "yes",
		"CapabilityBoundingSet": "", "LockPersonality": "yes", "UMask": "0077", "KillSignal": "SIGTERM",
		"RestartPreventExitStatus": "2", "User": "multidrop",
	} {
		assert.Equal(t, []string{want}, s[k], k)
	}
	assert.Equal(t, []string{"AF_INET AF_INET6 AF_UNIX"}, s["RestrictAddressFamilies"])
	assert.Contains(t, s["ExecReload"], "/bin/kill -HUP $MAINPID", "SIGHUP reloads")
	assert.Equal(t, []string{"/usr/local/bin/multidropd -config " + DefaultConfig}, s["ExecStart"])
	assert.Equal(t, []string{"multi-user.target"}, u["Install"]["WantedBy"])

	// Everything the example configuration writes is writable in the
	// sandbox; what it reads is in the configuration directory.
	c, err := LoadConfig("multidropd.example.json")
	require.NoError(t, err)
	writable := []string{"/var/lib/" + s["StateDirectory"][0]}
	for _, v := range s["ReadWritePaths"] {
		writable = append(writable, strings.Fields(v)...)
	}
	for _, p := range []string{filepath.Dir(c.Store.Path), c.Deliver.Maildir.Root, c.Pipeline.SpoolDir} {
		assert.True(t, slices.ContainsFunc(writable, func(w string) bool { return under(p, w) }), "%s is not writable under %v", p, writable)
	}
	confDir := "/etc/" + s["ConfigurationDirectory"][0]
	assert.True(t, under(c.Directory.Path, confDir), c.Directory.Path)
	assert.True(t, under(DefaultConfig, confDir), DefaultConfig)

	doc, err := os.ReadFile("CONFIG.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "multidropd.service")

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit was parsed and checked, not verified by systemd")
	}
	// verify wants ExecStart's binary to exist: a copy runs /bin/true.
	b, err := os.ReadFile("multidropd.service")
	require.NoError(t, err)
	tmp := filepath.Join(t.TempDir(), "multidropd.service")
	require.NoError(t, os.WriteFile(tmp, []byte(strings.Replace(string(b), "ExecStart=/usr/local/bin/multidropd", "ExecStart=/bin/true", 1)), 0o600))
	out, err := exec.CommandContext(t.Context(), sa, "verify", tmp).CombinedOutput()
	assert.NoError(t, err, "systemd-analyze verify: %s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warnings")
}

// TestDockerfile checks the container example against the module and
// the configuration: it builds this package, runs the binary with the
// default configuration path, and declares volumes for what the example
// configuration writes.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(b)
	m := regexp.MustCompile(`(?m)go build .* -o (\S+) (\./\S+)$`).FindStringSubmatch(df)
	require.NotNil(t, m, "go build line")
	fi, err := os.Stat(filepath.Join("..", "..", m[2]))
	require.NoError(t, err, "the build path is relative to the module root")
	assert.True(t, fi.IsDir())
	abs, err := filepath.Abs(".")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("..", "..", m[2]), filepath.Join("..", "..", "examples", filepath.Base(abs)))
	assert.Contains(t, df, "CGO_ENABLED=0")
	assert.Regexp(t, `(?m)^USER 65532`, df, "not root")

	var entry, cmd []string
	for _, l := range strings.Split(df, "\n") {
		if v, ok := strings.CutPrefix(l, "ENTRYPOINT "); ok {
			require.NoError(t, json.Unmarshal([]byte(v), &entry))
		}
		if v, ok := strings.CutPrefix(l, "CMD "); ok {
			require.NoError(t, json.Unmarshal([]byte(v), &cmd))
		}
	}
	assert.Equal(t, []string{"/usr/local/bin/multidropd"}, entry)
	assert.Equal(t, []string{"-config", DefaultConfig}, cmd)

	var vols []string
	vm := regexp.MustCompile(`(?m)^VOLUME (.*)$`).FindStringSubmatch(df)
	require.NotNil(t, vm)
	require.NoError(t, json.Unmarshal([]byte(vm[1]), &vols))
	c, err := LoadConfig("multidropd.example.json")
	require.NoError(t, err)
	for _, p := range []string{filepath.Dir(c.Store.Path), c.Pipeline.SpoolDir} {
		assert.Contains(t, vols, p)
	}
	assert.Contains(t, df, "STOPSIGNAL SIGTERM")
}
