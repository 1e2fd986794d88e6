# CloudWatch twins of the Prometheus alerts in infra/observability/alerts.yml, on the metrics the
# collector publishes. Thresholds and reasoning are explained in docs/OPERATIONS.md.

locals {
  state = lookup(var.scrape_targets, "state", null)
  edge  = lookup(var.scrape_targets, "edge", null)
}

resource "aws_cloudwatch_metric_alarm" "state_not_ready" {
  count = local.state == null ? 0 : 1

  alarm_name          = "${var.name}-state-not-ready"
  alarm_description   = "No tether-state task reports ready: appends and reads fail. No data counts as not ready."
  namespace           = var.metric_namespace
  metric_name         = "tether_state_ready"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = local.state.service_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "redis_errors" {
  count = local.state == null ? 0 : 1

  alarm_name          = "${var.name}-redis-errors"
  alarm_description   = "tether-state sees Redis errors: appends answer 503 while they last."
  namespace           = var.metric_namespace
  metric_name         = "tether_state_redis_errors_total"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = local.state.service_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 10
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "archive_backlog" {
  count = local.state == null ? 0 : 1

  alarm_name          = "${var.name}-archive-backlog"
  alarm_description   = "Chunks wait to be archived for 15 minutes: S3 or the archiver is failing and Redis memory is filling."
  namespace           = var.metric_namespace
  metric_name         = "tether_state_archive_backlog_chunks"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = local.state.service_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.archive_backlog_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "edge_refusals" {
  count = local.edge == null ? 0 : 1

  alarm_name          = "${var.name}-edge-connection-refusals"
  alarm_description   = "Edges refuse connections (limits, auth, draining): scale out or check the reason label in Prometheus."
  namespace           = var.metric_namespace
  metric_name         = "tether_edge_connections_refused_total"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = local.edge.service_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 100
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "kafka_lag" {
  count = var.kafka_enabled && local.state != null ? 1 : 0

  alarm_name          = "${var.name}-kafka-consumer-lag"
  alarm_description   = "tether-state falls behind its Kafka topics for 10 minutes."
  namespace           = var.metric_namespace
  metric_name         = "tether_state_kafka_consumer_lag"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = local.state.service_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.kafka_lag_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
