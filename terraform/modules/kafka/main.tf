# Optional Kafka ingest on MSK (count-gated by var.enabled). Clients authenticate with SASL/SCRAM
# over TLS (port 9096): librdkafka inside tether-state speaks SCRAM, not MSK's IAM mechanism (an
# OAUTHBEARER token provider it does not have). The credentials live in a Secrets Manager secret
# that MSK reads (name prefixed AmazonMSK_, encrypted with the environment's customer-managed
# key: MSK refuses secrets under the default aws/secretsmanager key); ECS injects its password
# into tether-state (TETHER_KAFKA_SASL_PASSWORD), so no password is in Terraform's variables or in
# a task definition.
#
# The SCRAM user is the cluster's only one. Without ACLs MSK lets any authenticated user use
# every topic (allow.everyone.if.no.acl.found defaults to true); when a second user appears,
# create ACLs for both and set allow.everyone.if.no.acl.found=false in the configuration below.

locals {
  count = var.enabled ? 1 : 0
  # Three copies where there are three brokers; a write (acks=all) waits for all but one.
  replication_factor  = min(3, var.broker_count)
  min_insync_replicas = max(1, local.replication_factor - 1)
}

resource "aws_cloudwatch_log_group" "brokers" {
  count = local.count

  name              = "/msk/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_msk_configuration" "this" {
  count = local.count

  name           = "${var.name}-config"
  kafka_versions = [var.kafka_version]
  description    = "Tether ingest: replicated topics, created explicitly"

  # An acknowledged record (acks=all) is on min.insync.replicas brokers; topics are created by the
  # operator with the partition count they need instead of by a typo in a producer.
  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=${local.replication_factor}
    min.insync.replicas=${local.min_insync_replicas}
    unclean.leader.election.enable=false
  EOT
}

resource "aws_msk_cluster" "this" {
  count = local.count

  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "PER_TOPIC_PER_PARTITION"

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [var.security_group_id]

    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size_gib
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  client_authentication {
    unauthenticated = false

    sasl {
      scram = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.brokers[0].name
      }
    }
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  tags = var.tags

  lifecycle {
    # Unconsumed records live only here. Turning `enabled` off after creation fails on purpose:
    # drain the topics first, then remove this guard deliberately.
    prevent_destroy = true

    precondition {
      condition     = var.security_group_id != null
      error_message = "security_group_id is required when Kafka is enabled (network module with kafka_enabled = true)."
    }
  }
}

# SCRAM credentials of tether-state, in the format MSK reads: {"username": ..., "password": ...}.
# The initial password comes from Secrets Manager's generator; that data source yields a new value
# on every plan, so the stored value is ignored after creation and rotation happens outside
# Terraform (docs/OPERATIONS.md) without a later apply reverting it. The initial value is in the
# Terraform state (encrypted, access-restricted bucket), like the other generated secrets.
data "aws_secretsmanager_random_password" "scram" {
  count = local.count

  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "scram" {
  #checkov:skip=CKV2_AWS_57:MSK reads only AWSCURRENT and drops the old password once the new one propagates, so a rotation must be followed by a state service deployment; the operator runs both (docs/OPERATIONS.md).
  count = local.count

  # MSK only accepts secrets whose name starts with AmazonMSK_.
  name                    = "AmazonMSK_${var.name}/${var.scram_username}"
  description             = "SASL/SCRAM credentials tether-state signs in to MSK ${var.name} with (TETHER_KAFKA_SASL_PASSWORD)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_secretsmanager_secret_version" "scram" {
  count = local.count

  secret_id = aws_secretsmanager_secret.scram[0].id
  secret_string = jsonencode({
    username = var.scram_username
    password = data.aws_secretsmanager_random_password.scram[0].random_password
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# Associating attaches MSK's own resource policy to the secret: do not manage another one.
resource "aws_msk_scram_secret_association" "this" {
  count = local.count

  cluster_arn     = aws_msk_cluster.this[0].arn
  secret_arn_list = [aws_secretsmanager_secret.scram[0].arn]

  # MSK reads the value when the secret is associated.
  depends_on = [aws_secretsmanager_secret_version.scram]
}
