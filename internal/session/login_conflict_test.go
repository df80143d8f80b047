package session_test

import (
	"net/http"
	"testing"

	"github.com/example/sessions/internal/testenv"
)

// Logins of one account racing each other, a logout-all or a disable touch the same
// login record, and DynamoDB refuses a write to an item another transaction is writing
// (TransactionConflict), which the SDK does not retry. Nothing was written, so the
// login writes again after a pause instead of answering 503.
func TestALoginCancelledByAConcurrentWriteOnItsRecordStillSignsIn(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name, op string
		fault    testenv.Fault
	}{
		{"the counted attempt's write refused as conflicting", "UpdateItem",
			testenv.APIError(http.StatusBadRequest, "TransactionConflictException", "Transaction is ongoing for the item")},
		{"the session's transaction cancelled by a conflict", "TransactWriteItems",
			testenv.Cancelled("None", "TransactionConflict")},
	}
	for _, f := range faults {
		t.Run(f.name+" twice, then the login succeeds with one session", func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, "racer", "", "")
			clear := h.Net.Inject(f.op, 2, f.fault)
			resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
			if hits := clear(); hits != 2 {
				t.Fatalf("the fault hit %d times, want 2", hits)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login answered %d %s, want 200", resp.StatusCode, resp.Body)
			}
			if n := len(h.Sessions(t)); n != 1 {
				t.Fatalf("%d sessions stored, want 1", n)
			}
			if f.op == "UpdateItem" {
				// Only the attempt that went through was counted, and the success cleared it.
				if testenv.Has(h.Item(t, "n#racer"), "fails") {
					t.Error("the failure counter is still set after the success")
				}
			}
		})
	}
}
