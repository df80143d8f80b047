package authz_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/testenv"
)

// setScope writes the scope stored with a session straight into its item ("" removes
// it), as a record that no longer matches its tokens.
func setScope(t *testing.T, h *testenv.Harness, sid, scope string) {
	t.Helper()
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(h.Table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "s#" + sid}},
	}
	if scope == "" {
		in.UpdateExpression = aws.String("REMOVE #s")
	} else {
		in.UpdateExpression = aws.String("SET #s = :s")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: scope}}
	}
	in.ExpressionAttributeNames = map[string]string{"#s": "scope"}
	if _, err := h.Raw.UpdateItem(testenv.Ctx(t), in); err != nil {
		t.Fatal(err)
	}
}

// The route acts on the scope stored with the session; a token whose scope claim
// disagrees with it is denied.
func TestTheAuthorizerGoesByTheSessionsScope(t *testing.T) {
	t.Parallel()
	h, _, tok := setup(t, nil) // the user and the token have "read write"
	for _, stored := range []string{"read", "read write admin", "write read", ""} {
		t.Run("a token claiming \"read write\" for a session storing "+`"`+stored+`"`+" is denied", func(t *testing.T) {
			setScope(t, h, tok.SessionID, stored)
			h.Logs.Reset()
			if resp := h.Authorize(t, tok.AccessToken); resp.IsAuthorized {
				t.Fatalf("allowed with context %v", resp.Context)
			}
			if !strings.Contains(h.Logs.String(), `"reason":"scope does not match the session"`) {
				t.Errorf("the deny does not say why:\n%s", h.Logs.String())
			}
		})
	}
	t.Run("with the record matching again, the route gets the stored scope", func(t *testing.T) {
		setScope(t, h, tok.SessionID, "read write")
		resp := h.Authorize(t, tok.AccessToken)
		if !resp.IsAuthorized || resp.Context["scope"] != testenv.S(h.SessionItem(t, tok.SessionID), "scope") {
			t.Fatalf("allowed %v with context %v", resp.IsAuthorized, resp.Context)
		}
	})
}
