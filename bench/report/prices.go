package main

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
)

// Assumptions of the Lambda duration model (not measured here).
const (
	// ddbRoundTripMs is an assumed in-region DynamoDB round trip as seen from Lambda.
	ddbRoundTripMs = 5.0
	// fullVCPUMB is the memory size at which Lambda gives a function one full vCPU;
	// below it the CPU share is proportional to memory.
	fullVCPUMB = 1769.0
)
