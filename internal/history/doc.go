// Package history checks that the service is linearizable: that every history of
// concurrent operations against it, with faults at the storage layer, is explained by
// some order of those operations applied one at a time to a sequential model of what
// a user can observe (model.go). The workload that makes the histories (its tests)
// runs the real handlers and authorizer against DynamoDB Local, as `make run` wires
// them, and injects faults under the SDK; github.com/anishathalye/porcupine searches
// for the order.
//
// How time flows: the harness clock stands still while a round of operations runs and
// moves (by whole seconds) only between rounds, once every operation of the round has
// returned and every request it sent has finished at the table (the wire never
// abandons a request the SDK gave up on; it waits for it). So every operation has one
// service time, the round's; an operation whose outcome is unknown (503, timeout)
// may have taken effect anywhere up to the end of its round, and no later; and along
// any order porcupine tries, time only moves forward, so the model can forget ended
// sessions. Deadlines, the grace window, the throttle's cool-downs and the access
// tokens' expiry are all in that clock.
//
// A login and a password change write twice (the counted attempt, then the session or
// the password), and other operations can see the first write before the second: a
// burst of logins with the right password can be throttled by each other's counts.
// So when such an operation reached its second write it is recorded as two
// operations: the first ends when its last counting request finished, the second
// starts after it.
package history
