package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/example/sessions/internal/password"
)

// readPassword gets a new password for user name: stdin's first line when stdin is
// not a terminal, otherwise two prompts without echo that must agree. It checks the
// password against the rules for new passwords.
func (c *cli) readPassword(name string) (string, error) {
	if c.env.Prompt == nil {
		pw, err := firstLine(c.env.Stdin)
		if err != nil {
			return "", err
		}
		return pw, checkNew(pw)
	}
	pw, err := c.env.Prompt(fmt.Sprintf("New password for %s: ", name))
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if err := checkNew(pw); err != nil {
		return "", err
	}
	again, err := c.env.Prompt("Repeat the password: ")
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if again != pw {
		return "", &usageError{msg: "the two passwords differ"}
	}
	return pw, nil
}

func checkNew(pw string) error {
	if err := password.CheckNew(pw); err != nil {
		return &usageError{msg: fmt.Sprintf("%v (the rule is %d to %d characters)", err, password.MinRunes, password.MaxRunes)}
	}
	return nil
}

// firstLine reads stdin's first line without its line ending. It reads at most the
// longest password and a CRLF, so a longer line fails the length check, and it does
// not wait for more input once the line has ended.
func firstLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, password.MaxBytes+2), 16)
	line, err := br.ReadString('\n')
	switch {
	case errors.Is(err, io.EOF) && line == "":
		return "", &usageError{msg: "no password on stdin: its first line must be the password (run sessionctl on a terminal to be asked for it)"}
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
