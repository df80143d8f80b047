// Command logout is the Lambda function behind the logout route (see template.yaml).
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("logout", func(a *app.App) any { return a.API.Logout }) }
