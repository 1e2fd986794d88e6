variable "name" {
  description = "Environment name prefix (e.g. tether-prod): names the metrics log group and the alarms."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "cluster_name" {
  description = "ECS cluster of the services (a dimension of every metric)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be letters, digits, '_' or '-'."
  }
}

variable "scrape_targets" {
  description = "Services whose /metrics the collector sidecar scrapes inside their own task: key (edge, state) -> ECS service name and port."
  type = map(object({
    service_name = string
    port         = number
  }))

  validation {
    condition     = length(var.scrape_targets) > 0 && alltrue([for t in values(var.scrape_targets) : t.port >= 1024 && t.port <= 65535])
    error_message = "scrape_targets needs at least one service, each with a port between 1024 and 65535."
  }
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the metrics the collector publishes (also what edge autoscaling reads)."
  type        = string
  default     = "Tether"

  validation {
    condition     = can(regex("^[A-Za-z0-9./#:_-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be a custom CloudWatch namespace (not AWS/...)."
  }
}

variable "collector_image" {
  description = "AWS Distro for OpenTelemetry collector image, pinned by tag or digest."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.42.0"

  validation {
    condition     = can(regex("^[^\\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.collector_image)) && !endswith(var.collector_image, ":latest")
    error_message = "collector_image must carry an explicit tag other than latest, or a sha256 digest."
  }
}

variable "scrape_interval_seconds" {
  description = "How often the collector scrapes /metrics."
  type        = number
  default     = 15

  validation {
    condition     = var.scrape_interval_seconds >= 5 && var.scrape_interval_seconds <= 300
    error_message = "scrape_interval_seconds must be between 5 and 300."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed key of the metrics log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key."
  }
}

variable "log_retention_days" {
  description = "Retention of the EMF log group the metrics are extracted from."
  type        = number
  default     = 7

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "prometheus_remote_write" {
  description = "Amazon Managed Service for Prometheus workspace to remote-write every metric to (for Grafana); null: CloudWatch only."
  type = object({
    workspace_arn = string
    endpoint      = string
  })
  default = null

  validation {
    condition = var.prometheus_remote_write == null || try(
      can(regex("^arn:aws[a-z-]*:aps:[a-z0-9-]+:\\d{12}:workspace/.+$", var.prometheus_remote_write.workspace_arn)) &&
      startswith(var.prometheus_remote_write.endpoint, "https://") && endswith(var.prometheus_remote_write.endpoint, "/api/v1/remote_write"),
      false,
    )
    error_message = "prometheus_remote_write needs an AMP workspace ARN and its https://.../api/v1/remote_write endpoint."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when an alarm fires or recovers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : startswith(a, "arn:")])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "kafka_enabled" {
  description = "Create the Kafka consumer lag alarm."
  type        = bool
  default     = false
}

variable "archive_backlog_threshold" {
  description = "Chunks waiting to be archived (max over state tasks) that raise the backlog alarm after 15 minutes."
  type        = number
  default     = 1000000

  validation {
    condition     = var.archive_backlog_threshold > 0
    error_message = "archive_backlog_threshold must be positive."
  }
}

variable "kafka_lag_threshold" {
  description = "Records of consumer lag (max over partitions) that raise the Kafka lag alarm after 10 minutes."
  type        = number
  default     = 100000

  validation {
    condition     = var.kafka_lag_threshold > 0
    error_message = "kafka_lag_threshold must be positive."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
