output "sidecars" {
  description = "Collector sidecar per scrape target key, in the shape ecs_service's `sidecars` takes."
  value = { for key, t in var.scrape_targets : key => {
    name         = "collector"
    image        = var.collector_image
    cpu          = 128
    memory       = 256
    environment  = { AOT_CONFIG_CONTENT = local.collector_config[key] }
    scratch_path = "/tmp"
    policy_json  = data.aws_iam_policy_document.collector.json
  } }
}

output "collector_config" {
  description = "Rendered collector configuration per scrape target key (YAML)."
  value       = local.collector_config
}

output "metric_namespace" {
  description = "CloudWatch namespace of Tether's metrics."
  value       = var.metric_namespace
}

output "metrics_log_group_name" {
  description = "Log group the metrics are published through."
  value       = aws_cloudwatch_log_group.metrics.name
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms."
  value = concat(
    aws_cloudwatch_metric_alarm.state_not_ready[*].alarm_name,
    aws_cloudwatch_metric_alarm.redis_errors[*].alarm_name,
    aws_cloudwatch_metric_alarm.archive_backlog[*].alarm_name,
    aws_cloudwatch_metric_alarm.edge_refusals[*].alarm_name,
    aws_cloudwatch_metric_alarm.kafka_lag[*].alarm_name,
  )
}
