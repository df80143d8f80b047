package main

import "time"

// Prices used by the cost tables: AWS list prices in us-east-1 (N. Virginia), on
// demand, without free tiers. Looked up for this report; check the pricing pages
// before relying on them.
const (

	// DynamoDB on demand, Standard table class: per million write / read request units.
	priceWRU = 0.625
	priceRRU = 0.125

	// Lambda, arm64, first 7.5 billion GB-s a month; requests.
	priceLambdaGBs = 0.0000133334
	priceLambdaReq = 0.20 // per million

	// API Gateway HTTP API, first 300 million requests a month (metered per 512 KB).
	priceHTTPAPI = 1.00 // per million

	// Amazon Cognito user pools, per monthly active user above the free 10,000 (Lite:
	// the first paid band; lower at higher volumes): https://aws.amazon.com/cognito/pricing/
	// as transcribed on 2026-09-20 by github.com/api-evangelist/amazon-cognito
	// (plans/amazon-cognito-plans-pricing.yml), read for this report on 2026-12-02.
	priceCognitoLiteMAU       = 0.0055
	priceCognitoEssentialsMAU = 0.015
)

// cognitoAccessTTL is the default lifetime of a Cognito user pool access token (an app
// client may set 5 minutes to 1 day). Cognito's RevokeToken and GlobalSignOut do not
// shorten it at API Gateway's JWT authorizer, which checks signature and claims only.
const cognitoAccessTTL = time.Hour

// Assumptions of the Lambda duration model (not measured here).
const (
	// ddbRoundTripMs is an assumed in-region DynamoDB round trip as seen from Lambda.
	ddbRoundTripMs = 5.0
	// fullVCPUMB is the memory size at which Lambda gives a function one full vCPU;
	// below it the CPU share is proportional to memory.
	fullVCPUMB = 1769.0
)
