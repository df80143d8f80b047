package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
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

// newUID returns a random user id: 128 bits, hex.
func newUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ensureUser creates the user with a random uid and an argon2id hash of its password
// (password.OWASP). If the name already has an account, it sets the new password
// instead: the token version goes up (Store.BumpVersion, through
// Service.RevokeUser), so the user's access tokens stop working, and the user's
// sessions are revoked, as a password reset should.
func ensureUser(ctx context.Context, a *app.App, u userSpec) (userResult, error) {
	hash, err := password.Hash(u.password, password.OWASP)
	if err != nil {
		return userResult{}, err
	}
	for range 3 {
		rec, err := a.Store.GetLogin(ctx, u.name)
		switch {
		case err == nil && rec.UID != "":
			if err := a.Service.RevokeUser(ctx, rec.UID, hash, "password_reset"); err != nil {
				return userResult{}, err
			}
			return userResult{userSpec: u, uid: rec.UID, disabled: rec.Disabled}, nil
		case err == nil, errors.Is(err, session.ErrNotFound): // no account (maybe a failures-only stub)
			uid, err := newUID()
			if err != nil {
				return userResult{}, err
			}
			err = a.Store.CreateUser(ctx, &session.Login{Name: u.name, UID: uid, PwHash: hash, Ver: 1})
			if errors.Is(err, session.ErrExists) {
				continue // created meanwhile: read it again and reset it
			}
			if err != nil {
				return userResult{}, err
			}
			return userResult{userSpec: u, uid: uid, created: true}, nil
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
