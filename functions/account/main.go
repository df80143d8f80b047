// Command account is the Lambda function of that name in template.yaml; app.Functions says
// what it serves and what it uses.
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("account") }
