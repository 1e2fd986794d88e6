# The collector scrapes each service's own /metrics and publishes the autoscaling and alarm
# metrics with the dimensions autoscaling expects; the alarms mirror the Prometheus alerts.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
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
}

variables {
  name         = "tether-test"
  cluster_name = "tether-test"
  kms_key_arn  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  scrape_targets = {
    edge  = { service_name = "tether-test-edge", port = 8080 }
    state = { service_name = "tether-test-state", port = 4437 }
  }
}

run "collector_scrapes_both_services" {
  command = plan

  assert {
    condition     = yamldecode(output.collector_config.edge).receivers.prometheus.config.scrape_configs[0].static_configs[0].targets == ["127.0.0.1:8080"]
    error_message = "The edge's collector scrapes the edge's port in its own task"
  }
  assert {
    condition     = yamldecode(output.collector_config.state).receivers.prometheus.config.scrape_configs[0].metrics_path == "/metrics"
    error_message = "The collector scrapes /metrics"
  }
  assert {
    condition     = contains(yamldecode(output.collector_config.edge).exporters.awsemf.metric_declarations[0].metric_name_selectors, "^tether_edge_connections_current$")
    error_message = "The connection count autoscaling reads is published to CloudWatch"
  }
  assert {
    condition     = yamldecode(output.collector_config.edge).exporters.awsemf.metric_declarations[0].dimensions == [["ClusterName", "ServiceName"]]
    error_message = "Metrics carry the ClusterName/ServiceName dimensions autoscaling uses"
  }
  assert {
    condition     = output.sidecars.edge.environment.AOT_CONFIG_CONTENT == output.collector_config.edge
    error_message = "The sidecar runs the rendered configuration"
  }
  assert {
    condition     = !contains(keys(yamldecode(output.collector_config.edge).exporters), "prometheusremotewrite")
    error_message = "No remote write without a workspace"
  }
}

run "alarms_mirror_the_alerts" {
  command = plan

  assert {
    condition     = length(output.alarm_names) == 4
    error_message = "Without Kafka: state readiness, Redis errors, archive backlog, edge refusals"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.state_not_ready[0].treat_missing_data == "breaching"
    error_message = "No data from the state service means it is not ready"
  }
}

run "kafka_lag_alarm_and_remote_write" {
  command = plan

  variables {
    kafka_enabled = true
    prometheus_remote_write = {
      workspace_arn = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-00000000-0000-0000-0000-000000000000"
      endpoint      = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-00000000-0000-0000-0000-000000000000/api/v1/remote_write"
    }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.kafka_lag) == 1
    error_message = "Kafka enabled adds the lag alarm"
  }
  assert {
    condition     = contains(yamldecode(output.collector_config.state).service.pipelines.metrics.exporters, "prometheusremotewrite")
    error_message = "A workspace turns remote write on"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad name
    name = "Tether"
    # rejects bad cluster name
    cluster_name = "tether test"
    # rejects no targets
    scrape_targets = {}
    # rejects aws namespace
    metric_namespace = "AWS/ECS"
    # rejects latest collector
    collector_image = "public.ecr.aws/aws-observability/aws-otel-collector:latest"
    # rejects fast scrape
    scrape_interval_seconds = 1
    # rejects bad kms key arn
    kms_key_arn = "alias/tether"
    # rejects unsupported log retention
    log_retention_days = 2
    # rejects bad remote write
    prometheus_remote_write = { workspace_arn = "ws-1", endpoint = "http://prometheus:9090" }
    # rejects bad alarm action
    alarm_actions = ["ops@example.com"]
    # rejects zero backlog threshold
    archive_backlog_threshold = 0
    # rejects zero lag threshold
    kafka_lag_threshold = 0
  }

  expect_failures = [
    var.name,
    var.cluster_name,
    var.scrape_targets,
    var.metric_namespace,
    var.collector_image,
    var.scrape_interval_seconds,
    var.kms_key_arn,
    var.log_retention_days,
    var.prometheus_remote_write,
    var.alarm_actions,
    var.archive_backlog_threshold,
    var.kafka_lag_threshold,
  ]
}
