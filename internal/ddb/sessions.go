package ddb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxTxItems is DynamoDB's limit of items in one TransactWriteItems.
const maxTxItems = 100

// maxBatchGet is DynamoDB's limit of keys in one BatchGetItem.
const maxBatchGet = 100

// unprocessedRetries bounds how often GetSessions asks again for keys BatchGetItem
// left unprocessed (it does so under throttling) before it fails closed.
const unprocessedRetries = 3

// genCond is the condition that a login record's session list is the one read: its
// change counter sg still has the value g (absent counts as 0).
func genCond(g int64, values map[string]types.AttributeValue) string {
	values[":sg"] = num(g)
	if g == 0 {
		return "(attribute_not_exists(#sg) OR #sg = :sg)"
	}
	return "#sg = :sg"
}

// GetSessions reads sessions by ID with strongly consistent reads, in as few
// BatchGetItem calls as the batch limit allows. Sessions that are not stored (deleted
// by TTL) are absent from the result. Keys DynamoDB leaves unprocessed are asked for
// again a few times; if some remain, the read fails with session.ErrUnavailable, so
// no caller mistakes a session it did not see for one that is gone.
func (s *Store) GetSessions(ctx context.Context, ids []string) (map[string]*session.Session, error) {
	out := make(map[string]*session.Session, len(ids))
	for start := 0; start < len(ids); start += maxBatchGet {
		chunk := ids[start:min(len(ids), start+maxBatchGet)]
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, id := range chunk {
			keys[i] = sessionKey(id)
		}
		req := map[string]types.KeysAndAttributes{*s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > unprocessedRetries {
				return nil, fmt.Errorf("ddb get sessions: %w: unprocessed keys", session.ErrUnavailable)
			}
			res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req, ReturnConsumedCapacity: total})
			if err != nil {
				return nil, classify("get sessions", err)
			}
			for _, item := range res.Responses[*s.table] {
				if sess := parseSession(item); sess != nil {
					out[sess.ID] = sess
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// EndSessions writes an Ending (see session.Ending): in one transaction, the login
// record's list is rewritten to hold only the kept session (on condition that it is
// unchanged since it was read), the token version bumped and the password or the
// disabled flag set as asked (on the login record and the user's token record alike),
// every session in End revoked on condition that it is still live, and the kept
// session checked live (and holding KeepHash) and given its new version or auth_time.
// A failed condition is session.ErrStale with nothing written.
//
// Only if End has more sessions than one transaction holds (an account with no
// session limit) are the surplus revoked first, in transactions of their own; the
// last transaction still carries the records and the kept session, so a failure in
// between leaves the caller's own request able to run again and finish.
func (s *Store) EndSessions(ctx context.Context, e session.Ending) error {
	end := e.End
	fixed := 1 // the login record
	if e.Bump || e.Disabled != nil {
		fixed++ // the token record
	}
	if e.Keep != nil {
		fixed++
	}
	// The decision's token (session.Ending.Token): an Ending sent again after a
	// TransactionConflict, whose first attempt did commit but whose answer was lost,
	// is answered as the success it was instead of re-running against the state it
	// created (a password change would then find its own new hash and refuse the old
	// password). Two decisions never share one, however alike.
	token := e.Token
	for chunk := 0; len(end) > maxTxItems-fixed; chunk++ {
		n := min(maxTxItems, len(end)-(maxTxItems-fixed))
		items := make([]types.TransactWriteItem, n)
		for i, r := range end[:n] {
			items[i] = types.TransactWriteItem{Update: s.revokeIfLive(r)}
		}
		chunkToken := ""
		if token != "" {
			chunkToken = token + "-" + strconv.Itoa(chunk)
		}
		if err := s.transact(ctx, "end sessions", chunkToken, items, func(int, map[string]types.AttributeValue) error {
			return fmt.Errorf("a session ended or changed since it was read: %w", session.ErrStale)
		}); err != nil {
			return err
		}
		end = end[n:]
	}
	items := []types.TransactWriteItem{{Update: s.rewriteList(e)}}
	if e.Bump || e.Disabled != nil {
		items = append(items, types.TransactWriteItem{Update: s.tokenRecord(e)})
	}
	if e.Keep != nil {
		items = append(items, types.TransactWriteItem{Update: s.keep(e)})
	}
	for _, r := range end {
		items = append(items, types.TransactWriteItem{Update: s.revokeIfLive(r)})
	}
	return s.transact(ctx, "end sessions", token, items, func(i int, _ map[string]types.AttributeValue) error {
		switch {
		case i == 0:
			return fmt.Errorf("login record changed since it was read: %w", session.ErrStale)
		case i == 1 && (e.Bump || e.Disabled != nil):
			return fmt.Errorf("no token record: %w", session.ErrNotFound)
		}
		return fmt.Errorf("a session ended or changed since it was read: %w", session.ErrStale)
	})
}

// transact runs a transaction under an idempotency token ("" for the SDK's own, one
// per call).
func (s *Store) transact(ctx context.Context, op, token string, items []types.TransactWriteItem, checkFailed func(int, map[string]types.AttributeValue) error) error {
	in := &dynamodb.TransactWriteItemsInput{ReturnConsumedCapacity: total, TransactItems: items}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	_, err := s.api.TransactWriteItems(ctx, in)
	if err != nil {
		return classifyTx(op, err, checkFailed)
	}
	return nil
}

// rewriteList is the login record's part of an Ending.
func (s *Store) rewriteList(e session.Ending) *types.Update {
	l := e.Login
	names := map[string]string{"#sg": "sg"}
	values := map[string]types.AttributeValue{":uid": str(l.UID), ":one": num(1), ":zero": num(0)}
	set := []string{"#sg = if_not_exists(#sg, :zero) + :one"}
	var remove []string
	if l.Sessions == nil {
		// A record from before lists existed gets one, with the kept session.
		list := map[string]types.AttributeValue{}
		if e.Keep != nil {
			list[e.Keep.ID] = num(e.Keep.CreatedAt.Unix())
		}
		values[":ss"] = &types.AttributeValueMemberM{Value: list}
		names["#ss"] = "ss"
		set = append(set, "#ss = :ss")
	} else {
		gone := slices.Clone(e.Drop)
		for _, r := range e.End {
			gone = append(gone, r.SessionID)
		}
		for i, id := range gone {
			n := fmt.Sprintf("#g%d", i)
			names[n], names["#ss"] = id, "ss"
			remove = append(remove, "#ss."+n)
		}
	}
	if e.Bump {
		set = append(set, "ver = ver + :one")
	}
	if e.PwHash != "" {
		set = append(set, "pwhash = :h")
		values[":h"] = str(e.PwHash)
		remove = append(remove, "fails", "last_fail")
	}
	if e.Disabled != nil {
		set = append(set, "disabled = :d")
		values[":d"] = &types.AttributeValueMemberBOOL{Value: *e.Disabled}
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	// The password the caller checked (or the administrator replaced) is still the
	// one: a password change racing another sees the other's result and decides again.
	values[":old"] = str(l.PwHash)
	return &types.Update{
		TableName: s.table, Key: loginKey(l.Name),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("uid = :uid AND pwhash = :old AND " + genCond(l.SetGen, values)),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// tokenRecord is the user's token record's part of an Ending: the copy of the version
// and of the disabled flag.
func (s *Store) tokenRecord(e session.Ending) *types.Update {
	var set []string
	values := map[string]types.AttributeValue{}
	if e.Bump {
		set = append(set, "ver = ver + :one")
		values[":one"] = num(1)
	}
	if e.Disabled != nil {
		set = append(set, "disabled = :d")
		values[":d"] = &types.AttributeValueMemberBOOL{Value: *e.Disabled}
	}
	return &types.Update{
		TableName: s.table, Key: userKey(e.Login.UID),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: values,
	}
}

// keep is the kept session's part of an Ending: it must still be live and the user's
// (and hold KeepHash); it is marked used, and given its new version or auth_time.
func (s *Store) keep(e session.Ending) *types.Update {
	values := map[string]types.AttributeValue{":now": num(e.Now.Unix()), ":uid": str(e.Login.UID)}
	set := []string{"last_used = :now"}
	if e.KeepVer != 0 {
		set = append(set, "ver = :ver")
		values[":ver"] = num(e.KeepVer)
	}
	if !e.KeepAuth.IsZero() {
		set = append(set, "auth_at = :auth")
		values[":auth"] = num(e.KeepAuth.Unix())
	}
	return &types.Update{
		TableName: s.table, Key: sessionKey(e.Keep.ID),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:       aws.String("user_id = :uid AND " + liveCond(e.KeepHash, values)),
		ExpressionAttributeValues: values,
	}
}

// liveCond is the condition that a session is live at :now and, with a hash, holds it
// as its current or previous refresh token.
func liveCond(hash []byte, values map[string]types.AttributeValue) string {
	cond := "attribute_not_exists(revoked_at) AND idle_exp > :now AND abs_exp > :now"
	if hash != nil {
		cond += " AND (cur = :h OR prev = :h)"
		values[":h"] = bin(hash)
	}
	return cond
}

// revokeIfLive is the transaction item that revokes a session only while it is live
// and, with a hash, still holds that token.
func (s *Store) revokeIfLive(r session.Revocation) *types.Update {
	values := map[string]types.AttributeValue{":now": num(r.Now.Unix()), ":r": str(r.Reason)}
	return &types.Update{
		TableName: s.table, Key: sessionKey(r.SessionID),
		UpdateExpression:          aws.String(revokeExpr),
		ConditionExpression:       aws.String(liveCond(r.Hash, values)),
		ExpressionAttributeValues: values,
	}
}

// SignOut revokes one session of a user (a device signed out from the list), in one
// conditional UpdateItem: it must be the user's and live. A session of the user's that
// has already ended (revoked, a retry of this very write whose answer was lost, or past
// a deadline) is a success with nothing written: signing out is idempotent. It reports
// whether this call ended the session.
// session.ErrNotFound for an unknown ID and another user's session alike, so the answer
// tells the caller nothing about sessions that are not theirs. The session's entry
// stays in the login record's list until the next rewrite drops it; its own item says
// it ended.
func (s *Store) SignOut(ctx context.Context, uid, sid, reason string, now time.Time) (bool, error) {
	values := map[string]types.AttributeValue{":now": num(now.Unix()), ":r": str(reason), ":uid": str(uid)}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 sessionKey(sid),
		ReturnConsumedCapacity:              total,
		UpdateExpression:                    aws.String(revokeExpr),
		ConditionExpression:                 aws.String("user_id = :uid AND " + liveCond(nil, values)),
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && getS(ccf.Item, "user_id") == uid {
		// The user's, and no longer live: already signed out. It was this very write
		// if the item carries its reason and time (the SDK retried it after its
		// answer was lost); another sign-out in the same second counts as this one.
		return getS(ccf.Item, "revoke_reason") == reason && getN(ccf.Item, "revoked_at") == now.Unix(), nil
	}
	if err != nil {
		return false, classify("sign out", err)
	}
	return true, nil
}

// Reauthenticated records that the password was checked again in a live session of
// the user's: the session's auth_time becomes at, and the username's failure counter
// (on which the check was counted) restarts, in one transaction. session.ErrNotFound
// if the session is no longer live or not the user's.
func (s *Store) Reauthenticated(ctx context.Context, sess *session.Session, login *session.Login, at time.Time) error {
	values := map[string]types.AttributeValue{":now": num(at.Unix()), ":uid": str(login.UID)}
	cond := "user_id = :uid AND " + liveCond(nil, values)
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: s.table, Key: sessionKey(sess.ID),
			UpdateExpression:          aws.String("SET auth_at = :now, last_used = :now"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeValues: values,
		}},
		{Update: &types.Update{
			TableName: s.table, Key: loginKey(login.Name),
			UpdateExpression:          aws.String("REMOVE fails, last_fail"),
			ConditionExpression:       aws.String("uid = :uid"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":uid": str(login.UID)},
		}},
	}
	return s.transact(ctx, "reauthenticated", "", items, func(i int, _ map[string]types.AttributeValue) error {
		if i == 0 {
			return fmt.Errorf("session no longer live: %w", session.ErrNotFound)
		}
		return fmt.Errorf("login record is not the user's: %w", session.ErrNotFound)
	})
}
