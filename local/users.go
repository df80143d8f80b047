package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/example/sessions/internal/session"

	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/password"
)

// demoName is the user created when no --user is given.
const demoName = "demo"

// userSpec is a --user argument.
type userSpec struct {
	name     string // normalised, as the login key
	password string
}

// userResult is what ensureUser did.
type userResult struct {
	userSpec
	uid      string
	created  bool // false: it existed and its password was reset
	disabled bool
}

// parseUserSpec reads NAME:PASSWORD (the name ends at the first colon). The password
// must meet the same rules as any new password.
func parseUserSpec(s string) (userSpec, error) {
	name, pw, ok := strings.Cut(s, ":")
	if !ok {
		return userSpec{}, errors.New("want NAME:PASSWORD")
	}
	n, err := password.NormalizeUsername(name)
	if err != nil {
		return userSpec{}, err
	}
	if err := password.CheckNew(pw); err != nil {
		return userSpec{}, fmt.Errorf("user %s: %w", n, err)
	}
	return userSpec{name: n, password: pw}, nil
}

// demoUser returns the demo user with a fresh random password.
func demoUser() (userSpec, error) {
	var b [15]byte // 20 base64url characters, 120 bits
	if _, err := rand.Read(b[:]); err != nil {
		return userSpec{}, err
	}
	return userSpec{name: demoName, password: base64.RawURLEncoding.EncodeToString(b[:])}, nil
}

// ensureUser creates the user (session.Service.CreateUser, argon2id with
// password.OWASP). If the name already has an account, it sets the new password
// instead (Service.SetPassword): the token version goes up, so the user's access
// tokens stop working, and the user's sessions are revoked, as a password reset should.
func ensureUser(ctx context.Context, a *app.App, u userSpec) (userResult, error) {
	for range 3 {
		l, err := a.Service.FindUser(ctx, u.name)
		switch {
		case err == nil:
			if err := a.Service.SetPassword(ctx, l.UID, u.password); err != nil {
				return userResult{}, err
			}
			return userResult{userSpec: u, uid: l.UID, disabled: l.Disabled}, nil
		case errors.Is(err, session.ErrNotFound):
			l, err := a.Service.CreateUser(ctx, u.name, u.password, "")
			if errors.Is(err, session.ErrExists) {
				continue // created meanwhile: read it again and reset it
			}
			if err != nil {
				return userResult{}, err
			}
			return userResult{userSpec: u, uid: l.UID, created: true}, nil
		default:
			return userResult{}, err
		}
	}
	return userResult{}, errors.New("the account kept changing while it was being created")
}

// loginJSON is the body of a login request.
func loginJSON(name, pw string) string {
	b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
	return string(b)
}
