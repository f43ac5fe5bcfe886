package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is the cost of the hashes hash-password makes.
const bcryptCost = 12

// isBcryptHash reports whether s looks like a bcrypt hash ("$2a$", "$2b$"
// or "$2y$", as htpasswd -B and hash-password write them).
func isBcryptHash(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}

// passwordChecker compares passwords with admin.password, in plain text or
// as a bcrypt hash. A bcrypt comparison takes about 250 ms at cost 12, and
// browsers send the password with every request: the digest of the last
// password that matched the hash is remembered, so only a different
// password pays for bcrypt again.
type passwordChecker struct {
	plain [32]byte // digest of the plain-text password
	hash  []byte   // bcrypt hash, or nil

	mu sync.Mutex
	ok [32]byte // digest of the last password that matched hash
	ht bool     // ok is set
}

func newPasswordChecker(password string) *passwordChecker {
	if isBcryptHash(password) {
		return &passwordChecker{hash: []byte(password)}
	}
	return &passwordChecker{plain: sha256.Sum256([]byte(password))}
}

// Match reports whether p is the password, in constant time for plain
// text.
func (c *passwordChecker) Match(p string) bool {
	d := sha256.Sum256([]byte(p))
	if c.hash == nil {
		return subtle.ConstantTimeCompare(d[:], c.plain[:]) == 1
	}
	c.mu.Lock()
	known := c.ht && subtle.ConstantTimeCompare(d[:], c.ok[:]) == 1
	c.mu.Unlock()
	if known {
		return true
	}
	if bcrypt.CompareHashAndPassword(c.hash, []byte(p)) != nil {
		return false
	}
	c.mu.Lock()
	c.ok, c.ht = d, true
	c.mu.Unlock()
	return true
}

// hashPassword is "multidropd hash-password": it reads a password from
// standard input (twice, without echo, on a terminal; the first line
// otherwise) and prints its bcrypt hash for admin.password. A password is
// never taken from the command line, where ps would show it.
func hashPassword(args []string, env *Env) int {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "usage: multidropd hash-password < password-file  (or type it at the prompt)")
		fmt.Fprintln(env.Stderr, "The password is read from standard input, never from the command line.")
		return ExitConfig
	}
	pw, err := readSecret(env, "Password: ", true)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: hash-password: %v\n", err)
		return ExitConfig
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		fmt.Fprintf(env.Stderr, "multidropd: hash-password: %v\n", err)
		return ExitConfig
	}
	fmt.Fprintln(env.Stdout, string(h))
	return ExitOK
}

// errNoSecret is an empty secret.
var errNoSecret = errors.New("empty password")

// readSecret reads one secret from env.Stdin: at a prompt without echo
// when it is a terminal (asked twice when confirm), else its first line.
// The line ending is removed; an empty secret is an error.
func readSecret(env *Env, prompt string, confirm bool) (string, error) {
	in := env.Stdin
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		s, err := promptNoEcho(f, env.Stderr, prompt)
		if err != nil {
			return "", err
		}
		if confirm {
			again, err := promptNoEcho(f, env.Stderr, "Again: ")
			if err != nil {
				return "", err
			}
			if again != s {
				return "", errors.New("the two passwords differ")
			}
		}
		if s == "" {
			return "", errNoSecret
		}
		return s, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errNoSecret
	}
	return line, nil
}
