# Metrics collection: an AWS Distro for OpenTelemetry collector runs as a sidecar in every edge
# and state task, scrapes the task's own /metrics (Prometheus text) over localhost, and
#  - publishes the metrics alarms and autoscaling need to CloudWatch (embedded metric format,
#    dimensions ClusterName and ServiceName; counters become per-period deltas),
#  - optionally remote-writes everything, labels included, to Amazon Managed Prometheus, which
#    the Grafana dashboard in infra/observability reads.
# A sidecar needs no service discovery and sees every task, including ones that are draining.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  log_group_name = "/tether/${var.name}/metrics"
  # Built from the name so the sidecar policy is known at plan time.
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  # Metrics worth a CloudWatch series (each costs money): autoscaling and alarm inputs plus
  # throughput. Labels other than the dimensions are aggregated away.
  cloudwatch_metrics = [
    "tether_edge_connections_current",
    "tether_edge_connections_refused_total",
    "tether_state_ready",
    "tether_state_redis_errors_total",
    "tether_state_archive_backlog_chunks",
    "tether_state_archive_errors_total",
    "tether_state_kafka_consumer_lag",
    "tether_state_appends_total",
  ]

  remote_write = var.prometheus_remote_write != null

  collector_config = { for key, t in var.scrape_targets : key => yamlencode({
    extensions = merge(
      { health_check = {} },
      local.remote_write ? { sigv4auth = { region = local.region, service = "aps" } } : {},
    )
    receivers = {
      prometheus = {
        config = {
          global = {
            scrape_interval = "${var.scrape_interval_seconds}s"
            scrape_timeout  = "${min(10, var.scrape_interval_seconds)}s"
          }
          scrape_configs = [{
            job_name     = t.service_name
            metrics_path = "/metrics"
            static_configs = [{
              targets = ["127.0.0.1:${t.port}"]
              labels  = { ClusterName = var.cluster_name, ServiceName = t.service_name }
            }]
          }]
        }
      }
    }
    processors = {
      batch = { timeout = "60s" }
    }
    exporters = merge(
      {
        awsemf = {
          namespace                        = var.metric_namespace
          log_group_name                   = local.log_group_name
          log_stream_name                  = "{TaskId}"
          region                           = local.region
          dimension_rollup_option          = "NoDimensionRollup"
          resource_to_telemetry_conversion = { enabled = true }
          metric_declarations = [{
            dimensions            = [["ClusterName", "ServiceName"]]
            metric_name_selectors = [for m in local.cloudwatch_metrics : "^${m}$"]
          }]
        }
      },
      local.remote_write ? {
        prometheusremotewrite = {
          endpoint = var.prometheus_remote_write.endpoint
          auth     = { authenticator = "sigv4auth" }
        }
      } : {},
    )
    service = {
      extensions = local.remote_write ? ["health_check", "sigv4auth"] : ["health_check"]
      pipelines = {
        metrics = {
          receivers  = ["prometheus"]
          processors = ["batch"]
          exporters  = local.remote_write ? ["awsemf", "prometheusremotewrite"] : ["awsemf"]
        }
      }
    }
  }) }
}

resource "aws_cloudwatch_log_group" "metrics" {
  #checkov:skip=CKV_AWS_338:These log events only carry metrics that CloudWatch extracts on arrival; keeping them a year would double the cost for nothing.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "collector" {
  statement {
    sid       = "PublishMetrics"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = local.remote_write ? [var.prometheus_remote_write.workspace_arn] : []
    content {
      sid       = "RemoteWrite"
      actions   = ["aps:RemoteWrite"]
      resources = [statement.value]
    }
  }
}
