// Package awsstub is an AWS endpoint for tests that run the real Lambda binaries: one
// HTTP server that a function reaches through AWS_ENDPOINT_URL, which tells the caller
// from its access key, evaluates every call against that caller's identity-based
// policy as IAM would, answers a call the policy does not allow as AWS does
// (AccessDeniedException), forwards allowed DynamoDB calls to DynamoDB Local and serves
// SSM parameters from memory. It records every call, so a test can fail on a call
// outside the policy and on a grant that nothing used.
//
// The evaluation covers what a function's inline policy in template.yaml can say:
// Allow and Deny statements with Action and Resource lists and the IAM wildcards * and
// ?. Conditions, NotAction and NotResource are refused where the policy is read
// (internal/samtemplate), never ignored.
package awsstub

import (
	"fmt"
	"strings"
)

// Statement is one statement of an identity-based policy.
type Statement struct {
	// Effect is "Allow" or "Deny".
	Effect string
	// Actions are action patterns such as "dynamodb:GetItem" or "ssm:Get*". IAM
	// matches them case-insensitively.
	Actions []string
	// Resources are ARN patterns; IAM matches them case-sensitively.
	Resources []string
}

// Policy is a principal's identity-based policy: all statements of all its policies.
type Policy []Statement

// Grant is one action pattern of one Allow statement: the unit the reverse check
// ("is every grant used?") counts.
type Grant struct {
	// Statement is the index of the statement in the Policy.
	Statement int
	// Action is the action pattern as the statement writes it.
	Action string
}

// Decision is the outcome of evaluating one action on one resource.
type Decision struct {
	// Allowed is true if an Allow statement matches and no Deny does.
	Allowed bool
	// ExplicitDeny is true if a Deny statement matches (it wins over any Allow).
	ExplicitDeny bool
	// Grants are the Allow grants that matched, whether or not a Deny won.
	Grants []Grant
}

// Evaluate decides action on resource as IAM does for an identity-based policy alone:
// an explicit Deny wins, else any matching Allow allows, else the implicit deny.
func (p Policy) Evaluate(action, resource string) Decision {
	var d Decision
	allowed := false
	for i, st := range p {
		if !matchesAny(st.Resources, resource, false) {
			continue
		}
		for _, a := range st.Actions {
			if !Match(a, action, true) {
				continue
			}
			switch st.Effect {
			case "Deny":
				d.ExplicitDeny = true
			case "Allow":
				allowed = true
				d.Grants = append(d.Grants, Grant{Statement: i, Action: a})
			}
		}
	}
	d.Allowed = allowed && !d.ExplicitDeny
	return d
}

// Grants returns every action pattern of every Allow statement, in policy order.
func (p Policy) Grants() []Grant {
	var out []Grant
	for i, st := range p {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Actions {
			out = append(out, Grant{Statement: i, Action: a})
		}
	}
	return out
}

func matchesAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if Match(p, s, fold) {
			return true
		}
	}
	return false
}

// Match reports whether s matches an IAM pattern, in which * stands for any run of
// characters (none included) and ? for exactly one. fold compares case-insensitively,
// as IAM does for actions (resources are case-sensitive).
func Match(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// Iterative glob match with backtracking to the last star: linear in practice,
	// never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// DeniedMessage is the message of AWS's AccessDeniedException for a call that an
// identity-based policy does not allow, as DynamoDB and SSM word it.
func DeniedMessage(principalARN, action, resource string, explicit bool) string {
	if explicit {
		return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy",
			principalARN, action, resource)
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		principalARN, action, resource, action)
}
