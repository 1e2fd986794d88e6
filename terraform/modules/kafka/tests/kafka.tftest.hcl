# MSK is optional (count-gated), private, encrypted and authenticated with SASL/SCRAM over TLS;
# the credentials are a KMS-encrypted AmazonMSK_ secret associated with the cluster.

mock_provider "aws" {
  mock_data "aws_secretsmanager_random_password" {
    defaults = {
      random_password = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHIJ0123"
    }
  }
  # Computed ARNs and the broker list, known at plan time (the cluster and the secret have
  # prevent_destroy, so the runs cannot apply).
  mock_resource "aws_msk_cluster" {
    override_during = plan
    defaults = {
      arn                          = "arn:aws:kafka:eu-west-1:123456789012:cluster/tether-test/00000000-0000-0000-0000-000000000000-1"
      bootstrap_brokers_sasl_scram = "b-1.tethertest.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.tethertest.abc123.c2.kafka.eu-west-1.amazonaws.com:9096"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    override_during = plan
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf"
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
    condition     = length(aws_msk_cluster.this) == 0 && length(aws_secretsmanager_secret.scram) == 0 && length(aws_msk_scram_secret_association.this) == 0
    error_message = "Without enabled = true there is no cluster and no secret"
  }
  assert {
    condition = (
      output.bootstrap_brokers == "" && output.scram_secret_arn == null && output.scram_secret_kms_key_arn == null &&
      output.security_protocol == null && output.sasl_mechanism == null && output.scram_username == null
    )
    error_message = "Without the cluster there are no client settings"
  }
}

run "enabled_cluster_is_private_encrypted_and_scram_authenticated" {
  command = plan

  variables {
    enabled = true
  }

  assert {
    condition     = length(aws_msk_cluster.this) == 1
    error_message = "enabled = true creates the cluster"
  }
  assert {
    condition     = one(one(aws_msk_cluster.this[0].encryption_info).encryption_in_transit).client_broker == "TLS" && one(one(aws_msk_cluster.this[0].encryption_info).encryption_in_transit).in_cluster && one(aws_msk_cluster.this[0].encryption_info).encryption_at_rest_kms_key_arn == var.kms_key_arn
    error_message = "Kafka traffic must be TLS only (clients and brokers) and storage encrypted with the customer key"
  }
  assert {
    condition     = one(one(aws_msk_cluster.this[0].client_authentication).sasl).scram && !coalesce(one(one(aws_msk_cluster.this[0].client_authentication).sasl).iam, false) && one(aws_msk_cluster.this[0].client_authentication).unauthenticated == false
    error_message = "Clients must authenticate with SASL/SCRAM (librdkafka has no MSK IAM provider), never unauthenticated"
  }
  assert {
    condition     = one(one(one(aws_msk_cluster.this[0].broker_node_group_info).connectivity_info).public_access).type == "DISABLED"
    error_message = "Brokers must not be public"
  }
  assert {
    condition     = output.bootstrap_brokers == "b-1.tethertest.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.tethertest.abc123.c2.kafka.eu-west-1.amazonaws.com:9096"
    error_message = "Clients get the SASL/SCRAM (port 9096) bootstrap brokers"
  }
  assert {
    condition     = output.security_protocol == "SASL_SSL" && output.sasl_mechanism == "SCRAM-SHA-512" && output.scram_username == "tether-state"
    error_message = "Clients use SASL_SSL with SCRAM-SHA-512 as tether-state"
  }
}

run "scram_secret_is_msk_readable_and_encrypted" {
  command = plan

  variables {
    enabled = true
  }

  assert {
    condition     = startswith(aws_secretsmanager_secret.scram[0].name, "AmazonMSK_") && aws_secretsmanager_secret.scram[0].name == "AmazonMSK_tether-test/tether-state"
    error_message = "MSK only reads secrets named AmazonMSK_*"
  }
  assert {
    condition     = aws_secretsmanager_secret.scram[0].kms_key_id == var.kms_key_arn && output.scram_secret_kms_key_arn == var.kms_key_arn
    error_message = "The secret must be encrypted with the customer-managed key (MSK rejects the default aws/secretsmanager key)"
  }
  assert {
    condition     = aws_secretsmanager_secret.scram[0].recovery_window_in_days == 30
    error_message = "A deleted secret stays recoverable for 30 days by default"
  }
  assert {
    condition     = toset(keys(jsondecode(nonsensitive(aws_secretsmanager_secret_version.scram[0].secret_string)))) == toset(["username", "password"]) && jsondecode(nonsensitive(aws_secretsmanager_secret_version.scram[0].secret_string)).username == "tether-state"
    error_message = "The secret holds the JSON MSK expects: {username, password}"
  }
  assert {
    condition     = length(jsondecode(nonsensitive(aws_secretsmanager_secret_version.scram[0].secret_string)).password) >= 32
    error_message = "The generated password is long"
  }
  assert {
    condition     = aws_msk_scram_secret_association.this[0].cluster_arn == aws_msk_cluster.this[0].arn && aws_msk_scram_secret_association.this[0].secret_arn_list == toset([aws_secretsmanager_secret.scram[0].arn])
    error_message = "The secret is associated with the cluster"
  }
  assert {
    condition     = output.scram_secret_arn == aws_secretsmanager_secret.scram[0].arn
    error_message = "The secret's ARN is an output (the state service's password comes from it)"
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
    # rejects scram username with a comma
    scram_username = "tether,state"
    # rejects immediate secret deletion
    secret_recovery_window_in_days = 0
  }

  expect_failures = [
    var.name,
    var.security_group_id,
    var.kms_key_arn,
    var.kafka_version,
    var.instance_type,
    var.volume_size_gib,
    var.log_retention_days,
    var.scram_username,
    var.secret_recovery_window_in_days,
  ]
}
