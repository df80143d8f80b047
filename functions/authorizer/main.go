// Command authorizer is the Lambda authorizer of the HTTP API's protected routes.
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("authorizer", func(a *app.App) any { return a.Authorizer.Handle }) }
