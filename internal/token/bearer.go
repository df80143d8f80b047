package token

import "strings"

// Bearer extracts the token of an "Authorization: Bearer <token>" value: the scheme in
// any case (RFC 9110 §11.1), one space, then the token with surrounding white space
// trimmed. It is the authorizer's reading of the header, here so that package verify
// (other services' verifier) reads the header exactly as the authorizer does.
func Bearer(h string) (string, bool) {
	scheme, t, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	t = strings.TrimSpace(t)
	return t, t != ""
}
