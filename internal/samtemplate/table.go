package samtemplate

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CreateTableInput builds a CreateTable request named tableName from the
// SessionsTable resource's own KeySchema, AttributeDefinitions, indexes and billing
// mode, so that DynamoDB Local tables have exactly the deployed schema. Settings that
// do not shape the data (TTL, PITR, SSE, deletion protection, tags) are left out; see
// TTLAttribute for TTL. Every schema value must be a literal: a CloudFormation
// function there is an error.
func (t *Template) CreateTableInput(tableName string) (*dynamodb.CreateTableInput, error) {
	res, err := t.resource(TableResource, "AWS::DynamoDB::Table")
	if err != nil {
		return nil, err
	}
	props, _ := res["Properties"].(map[string]any)
	where := TableResource + ".Properties"
	in := &dynamodb.CreateTableInput{TableName: aws.String(tableName)}

	defs, err := list(props["AttributeDefinitions"], where+".AttributeDefinitions")
	if err != nil {
		return nil, err
	}
	for i, d := range defs {
		w := fmt.Sprintf("%s.AttributeDefinitions[%d]", where, i)
		name, err := literal(get(d, "AttributeName"), w+".AttributeName")
		if err != nil {
			return nil, err
		}
		typ, err := literal(get(d, "AttributeType"), w+".AttributeType")
		if err != nil {
			return nil, err
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(name),
			AttributeType: types.ScalarAttributeType(typ),
		})
	}

	if in.KeySchema, err = keySchema(props["KeySchema"], where+".KeySchema"); err != nil {
		return nil, err
	}
	if len(in.KeySchema) == 0 {
		return nil, fmt.Errorf("samtemplate: %s.KeySchema: missing", where)
	}

	billing := "PROVISIONED" // CloudFormation's default
	if v, ok := props["BillingMode"]; ok {
		if billing, err = literal(v, where+".BillingMode"); err != nil {
			return nil, err
		}
	}
	in.BillingMode = types.BillingMode(billing)
	provisioned := in.BillingMode == types.BillingModeProvisioned
	if provisioned {
		if in.ProvisionedThroughput, err = throughput(props["ProvisionedThroughput"], where+".ProvisionedThroughput"); err != nil {
			return nil, err
		}
	}

	gsis, err := list(props["GlobalSecondaryIndexes"], where+".GlobalSecondaryIndexes")
	if err != nil {
		return nil, err
	}
	for i, g := range gsis {
		w := fmt.Sprintf("%s.GlobalSecondaryIndexes[%d]", where, i)
		name, ks, proj, err := index(g, w)
		if err != nil {
			return nil, err
		}
		gsi := types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: ks, Projection: proj}
		if provisioned {
			if gsi.ProvisionedThroughput, err = throughput(get(g, "ProvisionedThroughput"), w+".ProvisionedThroughput"); err != nil {
				return nil, err
			}
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}

	lsis, err := list(props["LocalSecondaryIndexes"], where+".LocalSecondaryIndexes")
	if err != nil {
		return nil, err
	}
	for i, l := range lsis {
		name, ks, proj, err := index(l, fmt.Sprintf("%s.LocalSecondaryIndexes[%d]", where, i))
		if err != nil {
			return nil, err
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: ks, Projection: proj,
		})
	}
	return in, nil
}

// TTLAttribute returns the SessionsTable's TimeToLiveSpecification.AttributeName, or
// "" if the table has no TTL, TTL is disabled, or the table is missing.
func (t *Template) TTLAttribute() string {
	res, err := t.resource(TableResource, "AWS::DynamoDB::Table")
	if err != nil {
		return ""
	}
	spec := get(res, "Properties", "TimeToLiveSpecification")
	switch get(spec, "Enabled") {
	case true, "true":
	default:
		return ""
	}
	name, _ := get(spec, "AttributeName").(string)
	return name
}

func keySchema(v any, where string) ([]types.KeySchemaElement, error) {
	elems, err := list(v, where)
	if err != nil {
		return nil, err
	}
	var ks []types.KeySchemaElement
	for i, e := range elems {
		w := fmt.Sprintf("%s[%d]", where, i)
		name, err := literal(get(e, "AttributeName"), w+".AttributeName")
		if err != nil {
			return nil, err
		}
		typ, err := literal(get(e, "KeyType"), w+".KeyType")
		if err != nil {
			return nil, err
		}
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyType(typ)})
	}
	return ks, nil
}

func index(v any, where string) (string, []types.KeySchemaElement, *types.Projection, error) {
	name, err := literal(get(v, "IndexName"), where+".IndexName")
	if err != nil {
		return "", nil, nil, err
	}
	ks, err := keySchema(get(v, "KeySchema"), where+".KeySchema")
	if err != nil {
		return "", nil, nil, err
	}
	if len(ks) == 0 {
		return "", nil, nil, fmt.Errorf("samtemplate: %s.KeySchema: missing", where)
	}
	pt, err := literal(get(v, "Projection", "ProjectionType"), where+".Projection.ProjectionType")
	if err != nil {
		return "", nil, nil, err
	}
	proj := &types.Projection{ProjectionType: types.ProjectionType(pt)}
	attrs, err := list(get(v, "Projection", "NonKeyAttributes"), where+".Projection.NonKeyAttributes")
	if err != nil {
		return "", nil, nil, err
	}
	for i, a := range attrs {
		s, err := literal(a, fmt.Sprintf("%s.Projection.NonKeyAttributes[%d]", where, i))
		if err != nil {
			return "", nil, nil, err
		}
		proj.NonKeyAttributes = append(proj.NonKeyAttributes, s)
	}
	return name, ks, proj, nil
}

func throughput(v any, where string) (*types.ProvisionedThroughput, error) {
	if v == nil {
		return nil, fmt.Errorf("samtemplate: %s: missing (BillingMode is PROVISIONED)", where)
	}
	r, err := number(get(v, "ReadCapacityUnits"), where+".ReadCapacityUnits")
	if err != nil {
		return nil, err
	}
	w, err := number(get(v, "WriteCapacityUnits"), where+".WriteCapacityUnits")
	if err != nil {
		return nil, err
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(r), WriteCapacityUnits: aws.Int64(w)}, nil
}
