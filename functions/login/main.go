// Command login is the Lambda function behind the login route (see template.yaml).
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("login", func(a *app.App) any { return a.API.Login }) }
