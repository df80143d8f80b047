package ddb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func parseLogin(name string, item map[string]types.AttributeValue) *session.Login {
	l := &session.Login{
		Name:     name,
		UID:      getS(item, "uid"),
		PwHash:   getS(item, "pwhash"),
		Ver:      getN(item, "ver"),
		Scope:    getS(item, "scope"),
		Disabled: getBool(item, "disabled"),
		Fails:    getN(item, "fails"),
		LastFail: unix(getN(item, "last_fail")),
	}
	if m, ok := item["devs"].(*types.AttributeValueMemberM); ok {
		l.Devices = make(map[string]session.Device, len(m.Value))
		for id, v := range m.Value {
			if e, ok := v.(*types.AttributeValueMemberM); ok {
				l.Devices[id] = session.Device{
					Fails: getN(e.Value, "f"), LastFail: unix(getN(e.Value, "t")), Seen: unix(getN(e.Value, "s")),
				}
			}
		}
	}
	return l
}

func parseUser(item map[string]types.AttributeValue) *session.User {
	pk := getS(item, "pk")
	if len(pk) < 2 {
		return nil
	}
	return &session.User{ID: pk[2:], Name: getS(item, "name"), Ver: getN(item, "ver"), Disabled: getBool(item, "disabled")}
}

// GetLogin reads the login record of a normalised username. The read is eventually
// consistent (half the cost): CreateSession's condition re-checks the version and
// hash it relied on, so a stale read can never open a session. It returns session.ErrNotFound
// when there is no item at all; a stub (failures only) has an empty UID.
func (s *Store) GetLogin(ctx context.Context, name string) (*session.Login, error) {
	return s.getLogin(ctx, name, false)
}

// GetLoginConsistent is GetLogin with a strongly consistent read, for the one retry
// after a login lost a race: an eventually consistent read could return the same
// stale record again.
func (s *Store) GetLoginConsistent(ctx context.Context, name string) (*session.Login, error) {
	return s.getLogin(ctx, name, true)
}

func (s *Store) getLogin(ctx context.Context, name string, consistent bool) (*session.Login, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: loginKey(name), ConsistentRead: aws.Bool(consistent), ReturnConsumedCapacity: total,
	})
	if err != nil {
		return nil, classify("get login", err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("ddb get login: %w", session.ErrNotFound)
	}
	return parseLogin(name, out.Item), nil
}

// ReserveLogin counts one login attempt before its password is checked, in one
// conditional UpdateItem on the login record, and returns the record as it is after
// the count (ALL_NEW): the caller checks the password against it, so a login needs no
// other read. The condition is the throttle rule itself, so however many requests
// arrive at once, DynamoDB lets through at most what the rule allows; a refused one
// comes back as *session.ReserveConflict with the record as it was (ALL_OLD, same
// round trip).
//
// The username's counter is the fails and last_fail attributes. The attempt creates
// the record if there is none: a stub without an account, which expires by TTL at
// r.StubExpiry, extended by each attempt. The TTL attribute is written as
// if_not_exists(uid, expiry): on an account's record that is the uid, a String, which
// DynamoDB's TTL ignores (it deletes only items whose TTL attribute is a Number), so
// the one expression serves known and unknown names alike and a real account never
// expires. A device's counter is the f and t members of its entry in the devs map;
// it is counted only if the record belongs to r.UID and lists the device.
func (s *Store) ReserveLogin(ctx context.Context, r session.LoginReservation) (*session.Login, error) {
	now := r.Now.Unix()
	values := map[string]types.AttributeValue{":one": num(1), ":now": num(now), ":forget": num(r.Rule.Forget.Unix())}
	names := map[string]string{}
	var expr, cond string
	if r.Device == "" {
		names["#ttl"] = "ttl"
		values[":ttl"] = num(r.StubExpiry.Unix())
		if r.Restart {
			expr = "SET fails = :one, last_fail = :now, #ttl = if_not_exists(uid, :ttl)"
			cond = "last_fail < :forget"
		} else {
			expr = "SET fails = if_not_exists(fails, :zero) + :one, last_fail = :now, #ttl = if_not_exists(uid, :ttl)"
			values[":zero"] = num(0)
			cond = throttleCondition("fails", "last_fail", r.Rule, now, values)
		}
	} else {
		names["#devs"], names["#d"], names["#f"], names["#t"] = "devs", r.Device, "f", "t"
		values[":uid"] = str(r.UID)
		const f, t = "#devs.#d.#f", "#devs.#d.#t"
		if r.Restart {
			expr = "SET " + f + " = :one, " + t + " = :now"
			cond = "uid = :uid AND " + t + " < :forget"
		} else {
			expr = "SET " + f + " = " + f + " + :one, " + t + " = :now"
			cond = "uid = :uid AND attribute_exists(" + f + ") AND " + throttleCondition(f, t, r.Rule, now, values)
		}
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 loginKey(r.Name),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              total,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			var old *session.Login
			if len(ccf.Item) > 0 {
				old = parseLogin(r.Name, ccf.Item)
			}
			return nil, &session.ReserveConflict{Old: old}
		}
		return nil, classify("reserve login", err)
	}
	return parseLogin(r.Name, out.Attributes), nil
}

// throttleCondition is rule as a condition on a counter: f is its count and t the
// time of its last counted attempt (both as expression paths). An attempt is allowed
// while the count's failures are not forgotten (no count, a zero count, or a last
// attempt at or after rule.Forget; a forgotten count is restarted instead, see
// LoginReservation.Restart) and the count is below rule.Below or its cool-down has
// passed: count Below+k waits rule.CoolDowns[k] after t, the last entry covering every
// larger count. Cool-downs are rounded up to whole seconds, as t and now are whole
// seconds: "now >= t + cool-down" is "t <= now - cool-down".
func throttleCondition(f, t string, rule session.ThrottleRule, now int64, values map[string]types.AttributeValue) string {
	values[":below"], values[":zero"] = num(rule.Below), num(0)
	var b strings.Builder
	fmt.Fprintf(&b, "(attribute_not_exists(%[1]s) OR %[1]s = :zero OR %[2]s >= :forget) AND (attribute_not_exists(%[1]s) OR %[1]s < :below", f, t)
	for k, cd := range rule.CoolDowns {
		secs := int64((cd + time.Second - 1) / time.Second)
		c, at := fmt.Sprintf(":c%d", k), fmt.Sprintf(":t%d", k)
		values[c], values[at] = num(rule.Below+int64(k)), num(now-secs)
		op := "="
		if k == len(rule.CoolDowns)-1 {
			op = ">="
		}
		fmt.Fprintf(&b, " OR (%s %s %s AND %s <= %s)", f, op, c, t, at)
	}
	b.WriteString(")")
	return b.String()
}

// GetAuthState reads a session and its user's token record in one strongly consistent
// BatchGetItem: one round trip, and a logout or version bump that has returned is
// seen at once. Unprocessed keys count as unavailable, so the caller fails closed.
func (s *Store) GetAuthState(ctx context.Context, sid, uid string) (*session.Session, *session.User, error) {
	out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		ReturnConsumedCapacity: total,
		RequestItems: map[string]types.KeysAndAttributes{
			*s.table: {
				Keys:           []map[string]types.AttributeValue{sessionKey(sid), userKey(uid)},
				ConsistentRead: aws.Bool(true),
			},
		},
	})
	if err != nil {
		return nil, nil, classify("get auth state", err)
	}
	if len(out.UnprocessedKeys) > 0 {
		return nil, nil, fmt.Errorf("ddb get auth state: %w: unprocessed keys", session.ErrUnavailable)
	}
	var sess *session.Session
	var user *session.User
	for _, item := range out.Responses[*s.table] {
		switch pk := getS(item, "pk"); {
		case pk == "s#"+sid:
			sess = parseSession(item)
		case pk == "u#"+uid:
			user = parseUser(item)
		}
	}
	if sess == nil || user == nil {
		return nil, nil, fmt.Errorf("ddb get auth state: %w", session.ErrNotFound)
	}
	return sess, user, nil
}

// GetUser reads a user's token record with a strongly consistent read.
func (s *Store) GetUser(ctx context.Context, uid string) (*session.User, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: userKey(uid), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: total,
	})
	if err != nil {
		return nil, classify("get user", err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("ddb get user: %w", session.ErrNotFound)
	}
	return parseUser(out.Item), nil
}

// CreateUser writes a new account: its login record (replacing a failures-only stub)
// and its token record, in one transaction. session.ErrExists if the name (or, by a
// freak of chance, the user ID) is taken; a cancellation for any other reason is
// classified as such (session.ErrConflict, session.ErrUnavailable, ...), never as
// "exists".
func (s *Store) CreateUser(ctx context.Context, l *session.Login) error {
	login := loginKey(l.Name)
	login["uid"] = str(l.UID)
	login["pwhash"] = str(l.PwHash)
	login["ver"] = num(l.Ver)
	if l.Scope != "" {
		login["scope"] = str(l.Scope)
	}
	user := userKey(l.UID)
	user["name"] = str(l.Name)
	user["ver"] = num(l.Ver)
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ReturnConsumedCapacity: total,
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: s.table, Item: login, ConditionExpression: aws.String("attribute_not_exists(uid)")}},
			{Put: &types.Put{TableName: s.table, Item: user, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		},
	})
	if err != nil {
		return classifyTx("create user", err, func(i int, _ map[string]types.AttributeValue) error {
			if i == 0 {
				return fmt.Errorf("username taken: %w", session.ErrExists)
			}
			return fmt.Errorf("user id taken: %w", session.ErrExists)
		})
	}
	return nil
}

// BumpVersion raises a user's token version by one, on the token record and on the
// login record's copy together, and optionally sets a new password hash. Every access
// token minted before it is then refused by the authorizer, and every login that read
// the old version fails its CreateSession condition.
//
// The increment is done by DynamoDB (ver = ver + 1 on both records, which only ever
// change together), not computed from a read, so concurrent bumps all succeed and
// none is lost; only the immutable username is read first, to address the login
// record. With end, the same transaction revokes that session on condition that it is
// still live (see session.Revocation): the bump happens if and only if the session
// was live at that instant, and a failed condition is session.ErrStale with nothing
// written. session.ErrNotFound if the user has no token record.
func (s *Store) BumpVersion(ctx context.Context, uid, newPwHash string, end *session.Revocation) error {
	user, err := s.GetUser(ctx, uid)
	if err != nil {
		return err
	}
	loginExpr := "SET ver = ver + :one"
	loginValues := map[string]types.AttributeValue{":one": num(1), ":uid": str(uid)}
	if newPwHash != "" {
		loginExpr += ", pwhash = :h REMOVE fails, last_fail"
		loginValues[":h"] = str(newPwHash)
	}
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: s.table, Key: userKey(uid),
			UpdateExpression:          aws.String("SET ver = ver + :one"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		}},
		{Update: &types.Update{
			TableName: s.table, Key: loginKey(user.Name),
			UpdateExpression:          aws.String(loginExpr),
			ConditionExpression:       aws.String("uid = :uid"),
			ExpressionAttributeValues: loginValues,
		}},
	}
	if end != nil {
		items = append(items, types.TransactWriteItem{Update: s.revokeLive(end)})
	}
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ReturnConsumedCapacity: total, TransactItems: items,
	})
	if err != nil {
		return classifyTx("bump version", err, func(i int, _ map[string]types.AttributeValue) error {
			switch i {
			case 0:
				return fmt.Errorf("no token record: %w", session.ErrNotFound)
			case 1:
				return fmt.Errorf("login record %q is not the user's: %w", user.Name, session.ErrNotFound)
			}
			return fmt.Errorf("session no longer live or its token rotated away: %w", session.ErrStale)
		})
	}
	return nil
}

// revokeLive is the transaction item that revokes a session only while it is live
// and, with a hash, still holds that token.
func (s *Store) revokeLive(r *session.Revocation) *types.Update {
	cond := "attribute_not_exists(revoked_at) AND idle_exp > :now AND abs_exp > :now"
	values := map[string]types.AttributeValue{":now": num(r.Now.Unix()), ":r": str(r.Reason)}
	if r.Hash != nil {
		cond += " AND (cur = :h OR prev = :h)"
		values[":h"] = bin(r.Hash)
	}
	return &types.Update{
		TableName: s.table, Key: sessionKey(r.SessionID),
		UpdateExpression:          aws.String(revokeExpr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	}
}

// SetDisabled disables or enables an account on both records, in one transaction.
// Disabling also bumps the token version on both (as BumpVersion does): every access
// token minted before is refused from then on, whatever the disabled flag says later,
// and a login that read the record before fails its CreateSession condition, so no
// session can be opened across the disable. Enabling only clears the flag, so it
// revives nothing. The caller revokes the sessions (session.Service.SetDisabled).
// session.ErrNotFound if the user has no token record.
func (s *Store) SetDisabled(ctx context.Context, uid string, disabled bool) error {
	user, err := s.GetUser(ctx, uid)
	if err != nil {
		return err
	}
	expr := "SET disabled = :d"
	values := map[string]types.AttributeValue{":d": &types.AttributeValueMemberBOOL{Value: disabled}}
	if disabled {
		expr += ", ver = ver + :one"
		values[":one"] = num(1)
	}
	loginValues := maps.Clone(values)
	loginValues[":uid"] = str(uid)
	_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ReturnConsumedCapacity: total,
		TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: s.table, Key: userKey(uid),
				UpdateExpression:          aws.String(expr),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: values,
			}},
			{Update: &types.Update{
				TableName: s.table, Key: loginKey(user.Name),
				UpdateExpression:          aws.String(expr),
				ConditionExpression:       aws.String("uid = :uid"),
				ExpressionAttributeValues: loginValues,
			}},
		},
	})
	if err != nil {
		return classifyTx("set disabled", err, func(i int, _ map[string]types.AttributeValue) error {
			if i == 0 {
				return fmt.Errorf("no token record: %w", session.ErrNotFound)
			}
			return fmt.Errorf("login record %q is not the user's: %w", user.Name, session.ErrNotFound)
		})
	}
	return nil
}
