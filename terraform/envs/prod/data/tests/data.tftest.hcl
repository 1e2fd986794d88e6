# The data root plans with every module wired together (mocked AWS, nothing is created).

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  mock_data "aws_secretsmanager_random_password" {
    defaults = {
      random_password = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHIJ0123"
    }
  }
  # Computed ARNs and ids other modules validate, known at plan time (stateful resources have
  # prevent_destroy, so the runs cannot apply).
  mock_resource "aws_kms_key" {
    override_during = plan
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }
  mock_resource "aws_security_group" {
    override_during = plan
    defaults = {
      id = "sg-0123456789abcdef0"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    override_during = plan
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/x-AbCdEf"
    }
  }
}

variables {
  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  private_subnet_ids = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
}

run "plans_without_kafka" {
  command = plan

  assert {
    condition     = output.archive_bucket_name == "tether-prod-archive-123456789012"
    error_message = "The default bucket name is tether-<env>-archive-<account>"
  }
  assert {
    condition     = output.kafka_bootstrap_brokers == "" && output.kafka_scram_secret_arn == null && output.kafka_security_protocol == null && output.kafka_sasl_username == null
    error_message = "No Kafka unless enabled"
  }
  assert {
    condition     = toset(keys(output.security_group_ids)) == toset(["alb", "edge", "state", "redis"])
    error_message = "Security groups of every component, no Kafka group"
  }
  assert {
    condition     = startswith(output.jwt_secret_arn, "arn:aws:secretsmanager:") && startswith(output.redis_auth_secret_arn, "arn:aws:secretsmanager:")
    error_message = "Only secret ARNs leave the data root"
  }
}

run "plans_with_kafka" {
  command = plan

  variables {
    kafka_enabled = true
  }

  assert {
    condition     = contains(keys(output.security_group_ids), "kafka")
    error_message = "Kafka gets its own security group"
  }
  assert {
    condition     = output.kafka_security_protocol == "SASL_SSL" && output.kafka_sasl_mechanism == "SCRAM-SHA-512" && output.kafka_sasl_username == "tether-state"
    error_message = "The app root gets the SASL/SCRAM client settings"
  }
  assert {
    condition     = startswith(output.kafka_scram_secret_arn, "arn:aws:secretsmanager:") && output.kafka_scram_secret_kms_key_arn == output.kms_key_arn
    error_message = "Only the SCRAM secret's ARN leaves the data root, and it is encrypted with the environment's key"
  }
  assert {
    condition     = module.kafka.enabled && startswith(module.kafka.scram_secret_arn, "arn:aws:secretsmanager:")
    error_message = "The cluster and its SCRAM secret exist"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad region
    region = "europe"
    # rejects bad environment
    environment = "Dev_1"
  }

  expect_failures = [
    var.region,
    var.environment,
  ]
}
