# Optional Kafka ingest on MSK (count-gated by var.enabled). Clients authenticate with IAM
# (SASL/IAM over TLS, port 9098): tether-state's task role gets the consumer policy below, so no
# Kafka password exists anywhere.

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
      iam = true
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

# What tether-state needs to consume (and commit offsets) with its task role.
data "aws_iam_policy_document" "consumer" {
  count = local.count

  statement {
    sid       = "Cluster"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [aws_msk_cluster.this[0].arn]
  }

  statement {
    sid       = "Topics"
    actions   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
    resources = [replace("${aws_msk_cluster.this[0].arn}/*", ":cluster/", ":topic/")]
  }

  statement {
    sid       = "ConsumerGroups"
    actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
    resources = [replace("${aws_msk_cluster.this[0].arn}/*", ":cluster/", ":group/")]
  }
}
