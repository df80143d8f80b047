// Command refresh is the Lambda function behind the refresh route (see template.yaml).
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("refresh", func(a *app.App) any { return a.API.Refresh }) }
