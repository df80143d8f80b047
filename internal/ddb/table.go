package ddb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAdmin is the part of the client that creates tables (local runs and the admin
// command; deployed stacks get their table from template.yaml).
type TableAdmin interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// EnsureTable creates the table described by in (normally built from template.yaml)
// unless it exists, waits until it is active and turns TTL on for ttlAttr. It reports
// whether it created the table.
func EnsureTable(ctx context.Context, api TableAdmin, in *dynamodb.CreateTableInput, ttlAttr string) (bool, error) {
	_, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &nf):
		return false, fmt.Errorf("ddb describe table %s: %w", aws.ToString(in.TableName), err)
	}
	if _, err := api.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return false, nil
		}
		return false, fmt.Errorf("ddb create table %s: %w", aws.ToString(in.TableName), err)
	}
	waiter := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, time.Minute); err != nil {
		return true, fmt.Errorf("ddb wait for table %s: %w", aws.ToString(in.TableName), err)
	}
	if ttlAttr != "" {
		_, err := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               in.TableName,
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(ttlAttr), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return true, fmt.Errorf("ddb enable TTL on %s: %w", aws.ToString(in.TableName), err)
		}
	}
	return true, nil
}
