package ddb

import (
	"context"
	"errors"
	"fmt"
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
	if m, ok := item["ss"].(*types.AttributeValueMemberM); ok {
		l.Sessions = make(map[string]time.Time, len(m.Value))
		for id, v := range m.Value {
			l.Sessions[id] = unix(numOf(v))
		}
	}
	l.SetGen = getN(item, "sg")
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
	// An empty session list, so a login adds to it with a nested path.
	login["ss"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
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
