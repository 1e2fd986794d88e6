# MSK is optional (count-gated), private, encrypted and authenticated with IAM.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name              = "tether-test"
  subnet_ids        = ["subnet-0000000000000000c", "subnet-0000000000000000d", "subnet-0000000000000000e"]
  security_group_id = "sg-0123456789abcdef0"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "disabled_by_default" {
  command = plan

  assert {
    condition     = length(aws_msk_cluster.this) == 0 && output.bootstrap_brokers == "" && output.consumer_policy_json == null
    error_message = "Without enabled = true there is no cluster and no broker list"
  }
}

run "enabled_cluster_is_private_encrypted_and_iam_authenticated" {
  command = plan

  variables {
    enabled = true
  }

  assert {
    condition     = length(aws_msk_cluster.this) == 1
    error_message = "enabled = true creates the cluster"
  }
  assert {
    condition     = one(one(aws_msk_cluster.this[0].encryption_info).encryption_in_transit).client_broker == "TLS" && one(aws_msk_cluster.this[0].encryption_info).encryption_at_rest_kms_key_arn == var.kms_key_arn
    error_message = "Kafka traffic must be TLS and storage encrypted with the customer key"
  }
  assert {
    condition     = one(one(aws_msk_cluster.this[0].client_authentication).sasl).iam && one(aws_msk_cluster.this[0].client_authentication).unauthenticated == false
    error_message = "Clients must authenticate with IAM"
  }
  assert {
    condition     = one(one(one(aws_msk_cluster.this[0].broker_node_group_info).connectivity_info).public_access).type == "DISABLED"
    error_message = "Brokers must not be public"
  }
}

run "rejects_four_subnets" {
  command = plan
  variables {
    subnet_ids   = ["subnet-0000000000000000a", "subnet-0000000000000000b", "subnet-0000000000000000c", "subnet-0000000000000000d"]
    broker_count = 4
  }
  expect_failures = [var.subnet_ids]
}

run "rejects_uneven_broker_count" {
  command = plan
  variables {
    broker_count = 4
  }
  expect_failures = [var.broker_count]
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad name
    name = "1tether"
    # rejects bad security group
    security_group_id = "default"
    # rejects bad kms key arn
    kms_key_arn = "alias/aws/kafka"
    # rejects kafka 2
    kafka_version = "2.8.1"
    # rejects bad instance type
    instance_type = "m7g.large"
    # rejects zero volume
    volume_size_gib = 0
    # rejects unsupported log retention
    log_retention_days = 10
  }

  expect_failures = [
    var.name,
    var.security_group_id,
    var.kms_key_arn,
    var.kafka_version,
    var.instance_type,
    var.volume_size_gib,
    var.log_retention_days,
  ]
}
