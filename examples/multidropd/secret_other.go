//go:build !linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// promptNoEcho writes prompt to w and reads a line from tty. Echo stays
// on: only Linux turns it off here.
func promptNoEcho(tty *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt+"(echoed) ")
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
