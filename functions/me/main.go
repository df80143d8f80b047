// Command me is the Lambda function behind the me route (see template.yaml).
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("me", func(a *app.App) any { return a.API.Me }) }
