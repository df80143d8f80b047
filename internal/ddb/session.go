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

func sessionItem(s *session.Session) map[string]types.AttributeValue {
	item := sessionKey(s.ID)
	item["user_id"] = str(s.UserID)
	item["ver"] = num(s.Ver)
	if s.Scope != "" {
		item["scope"] = str(s.Scope)
	}
	item["cur"] = bin(s.Cur)
	if !s.RotatedAt.IsZero() {
		item["rotated_at"] = num(s.RotatedAt.UnixMilli())
	}
	item["gen"] = num(s.Gen)
	item["idle_exp"] = num(s.IdleExp.Unix())
	item["abs_exp"] = num(s.AbsExp.Unix())
	item["ttl"] = num(minTime(s.IdleExp, s.AbsExp).Unix())
	item["created_at"] = num(s.CreatedAt.Unix())
	item["last_used"] = num(s.LastUsed.Unix())
	if s.UserAgent != "" {
		item["ua"] = str(s.UserAgent)
	}
	if s.IP != "" {
		item["ip"] = str(s.IP)
	}
	if s.LoginName != "" {
		item["nm"] = str(s.LoginName)
	}
	if !s.AuthTime.IsZero() {
		item["auth_at"] = num(s.AuthTime.Unix())
	}
	return item
}

func parseSession(item map[string]types.AttributeValue) *session.Session {
	pk := getS(item, "pk")
	if len(pk) < 2 {
		return nil
	}
	return &session.Session{
		ID:           pk[2:],
		UserID:       getS(item, "user_id"),
		Ver:          getN(item, "ver"),
		Scope:        getS(item, "scope"),
		Cur:          getB(item, "cur"),
		Prev:         getB(item, "prev"),
		RotatedAt:    time.UnixMilli(getN(item, "rotated_at")),
		Gen:          getN(item, "gen"),
		IdleExp:      unix(getN(item, "idle_exp")),
		AbsExp:       unix(getN(item, "abs_exp")),
		CreatedAt:    unix(getN(item, "created_at")),
		LastUsed:     unix(getN(item, "last_used")),
		UserAgent:    getS(item, "ua"),
		IP:           getS(item, "ip"),
		RevokedAt:    unix(getN(item, "revoked_at")),
		RevokeReason: getS(item, "revoke_reason"),
		LoginName:    getS(item, "nm"),
		AuthTime:     unix(getN(item, "auth_at")),
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// CreateSession writes a new session for the login record it was authenticated
// against, in one transaction that also applies the login's outcome to the record
// (session.LoginSuccess): it clears the username's failure counter when the attempt was
// counted there, and registers the device the login hands a device token to, with a
// fresh counter, dropping the devices named in Forget. The transaction fails with
// session.ErrStale if the record's token version or password hash changed since it was
// read: a "log out everywhere" or a password change that races this login wins, and no
// session with the old version survives it. It also fails with ErrStale if the record's
// device map appeared or vanished since the read (another login created it first); a
// consistent re-read then decides.
func (s *Store) CreateSession(ctx context.Context, sess *session.Session, login *session.Login, o session.LoginSuccess) error {
	cond := "uid = :uid AND ver = :ver AND pwhash = :h"
	values := map[string]types.AttributeValue{
		":uid": str(login.UID), ":ver": num(login.Ver), ":h": str(login.PwHash),
	}
	names := map[string]string{}
	var set, remove []string
	if o.ClearFailures {
		names["#ttl"] = "ttl"
		remove = append(remove, "fails", "last_fail", "#ttl")
	}
	if o.Device != "" {
		names["#devs"] = "devs"
		entry := &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"f": num(0), "t": num(0), "s": num(o.Seen.Unix()),
		}}
		if login.Devices == nil {
			cond += " AND attribute_not_exists(#devs)"
			set = append(set, "#devs = :devs")
			values[":devs"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{o.Device: entry}}
		} else {
			cond += " AND attribute_exists(#devs)"
			names["#d"] = o.Device
			set = append(set, "#devs.#d = :dev")
			values[":dev"] = entry
			for i, id := range o.Forget {
				if id == o.Device {
					continue
				}
				n := fmt.Sprintf("#x%d", i)
				names[n] = id
				remove = append(remove, "#devs."+n)
			}
		}
	}
	// The session joins the account's list (and the least recently used beyond the
	// limit, and the dead, leave it) in the same write; sg counts list changes.
	names["#ss"], names["#sg"] = "ss", "sg"
	values[":one"], values[":zero"] = num(1), num(0)
	set = append(set, "#sg = if_not_exists(#sg, :zero) + :one")
	entry := num(sess.CreatedAt.Unix())
	if login.Sessions == nil {
		cond += " AND attribute_not_exists(#ss)"
		set = append(set, "#ss = :ss")
		values[":ss"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{sess.ID: entry}}
	} else {
		cond += " AND attribute_exists(#ss)"
		names["#new"] = sess.ID
		set = append(set, "#ss.#new = :sess")
		values[":sess"] = entry
		gone := make([]string, 0, len(o.Evict)+len(o.Drop))
		for _, v := range o.Evict {
			gone = append(gone, v.ID)
		}
		gone = append(gone, o.Drop...)
		for i, id := range gone {
			n := fmt.Sprintf("#g%d", i)
			names[n] = id
			remove = append(remove, "#ss."+n)
		}
		switch {
		case len(gone) > 0:
			cond += " AND " + genCond(login.SetGen, values)
		case o.Limit > 0:
			cond += " AND size(#ss) < :limit"
			values[":limit"] = num(int64(o.Limit))
		}
	}
	var expr []string
	if len(set) > 0 {
		expr = append(expr, "SET "+strings.Join(set, ", "))
	}
	if len(remove) > 0 {
		expr = append(expr, "REMOVE "+strings.Join(remove, ", "))
	}
	update := &types.Update{
		TableName: s.table, Key: loginKey(login.Name),
		UpdateExpression:          aws.String(strings.Join(expr, " ")),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		// A failed condition hands back the record as it is now, so the login can
		// decide again without a read (it has no GetItem grant).
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:           s.table,
			Item:                sessionItem(sess),
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
		{Update: update},
	}
	for _, v := range o.Evict {
		// Still unrotated since it was read (so still the least recently used) and
		// not revoked: otherwise the login decides again.
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: s.table, Key: sessionKey(v.ID),
			UpdateExpression:    aws.String(revokeExpr),
			ConditionExpression: aws.String("gen = :gen AND attribute_not_exists(revoked_at)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": num(sess.CreatedAt.Unix()), ":r": str(session.ReasonEvicted), ":gen": num(v.Gen),
			},
		}})
	}
	for _, st := range o.Stay {
		// Still live, so the eviction is still needed: a session that ended since
		// the read (signed out, expired) made the room itself.
		values := map[string]types.AttributeValue{":now": num(sess.CreatedAt.Unix())}
		items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: s.table, Key: sessionKey(st.ID),
			ConditionExpression:       aws.String(liveCond(nil, values)),
			ExpressionAttributeValues: values,
		}})
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ReturnConsumedCapacity: total, TransactItems: items,
	})
	if err == nil {
		return nil
	}
	return classifyTx("create session", err, func(i int, item map[string]types.AttributeValue) error {
		switch {
		case i == 0:
			return fmt.Errorf("session id taken: %w", session.ErrExists)
		case i > 1:
			// A session to evict was used or ended since it was read, or one to stay
			// ended: decide again on the same record (the list did not change),
			// reading the sessions anew.
			return &session.StaleLogin{Current: login}
		}
		// The login record's condition: ALL_OLD hands back the record as it is now.
		var cur *session.Login
		if len(item) > 0 {
			cur = parseLogin(login.Name, item)
		}
		return &session.StaleLogin{Current: cur}
	})
}

// Rotate replaces the session's current refresh-token hash with Next and slides the
// idle deadline, in one conditional UpdateItem: the presented hash must be current,
// the session unrevoked and inside both deadlines. It returns the updated session; on
// a failed condition a *session.RotateConflict carrying the old item (ReturnValuesOnCondition
// CheckFailure=ALL_OLD, same round trip), or session.ErrNotFound if there is no such session.
func (s *Store) Rotate(ctx context.Context, in session.RotateInput) (*session.Session, error) {
	now := in.Now.Unix()
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:              s.table,
		Key:                    sessionKey(in.SessionID),
		ReturnConsumedCapacity: total,
		UpdateExpression: aws.String("SET prev = cur, cur = :next, rotated_at = :ms, gen = gen + :one, " +
			"idle_exp = :idle, #ttl = :ttl, last_used = :now"),
		ConditionExpression:                 aws.String("cur = :presented AND attribute_not_exists(revoked_at) AND idle_exp > :now AND abs_exp > :now"),
		ExpressionAttributeNames:            map[string]string{"#ttl": "ttl"},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next":      bin(in.Next),
			":presented": bin(in.Presented),
			":ms":        num(in.Now.UnixMilli()),
			":one":       num(1),
			":idle":      num(in.IdleExp.Unix()),
			":ttl":       num(minTime(in.IdleExp, in.AbsExp).Unix()),
			":now":       num(now),
		},
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if len(ccf.Item) == 0 {
				return nil, fmt.Errorf("ddb rotate: %w", session.ErrNotFound)
			}
			return nil, &session.RotateConflict{Old: parseSession(ccf.Item)}
		}
		return nil, classify("rotate", err)
	}
	return parseSession(out.Attributes), nil
}

// RevokeSession marks a session revoked. With a non-nil hash the session must hold
// it as its current or previous refresh token (logout proves possession); a nil hash
// revokes unconditionally (theft detected, log out everywhere, admin). Revoking twice
// keeps the first time and reason.
//
// It returns the session as it was just before this write (ALL_OLD, same round trip),
// so the caller learns atomically whether it was this call that ended a live session
// (old.Live(now)) rather than one that found it revoked or expired; a read before or
// after could be overtaken by a concurrent write. session.ErrNotFound if there is no
// such session or it holds neither hash.
func (s *Store) RevokeSession(ctx context.Context, sid string, hash []byte, reason string, now time.Time) (*session.Session, error) {
	cond := "attribute_exists(pk)"
	values := map[string]types.AttributeValue{":now": num(now.Unix()), ":r": str(reason)}
	if hash != nil {
		cond += " AND (cur = :h OR prev = :h)"
		values[":h"] = bin(hash)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       sessionKey(sid),
		ReturnConsumedCapacity:    total,
		UpdateExpression:          aws.String(revokeExpr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	})
	if err != nil {
		return nil, classify("revoke session", err)
	}
	return parseSession(out.Attributes), nil
}

// revokeExpr marks a session revoked, keeping the first revocation's time and reason.
const revokeExpr = "SET revoked_at = if_not_exists(revoked_at, :now), revoke_reason = if_not_exists(revoke_reason, :r)"

// GetSession reads a session with a strongly consistent read.
func (s *Store) GetSession(ctx context.Context, sid string) (*session.Session, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: s.table, Key: sessionKey(sid), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: total,
	})
	if err != nil {
		return nil, classify("get session", err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("ddb get session: %w", session.ErrNotFound)
	}
	return parseSession(out.Item), nil
}
