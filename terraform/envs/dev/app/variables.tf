variable "region" {
  description = "AWS region of the environment (the data root's region)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region such as eu-west-1."
  }
}

variable "environment" {
  description = "Environment name; resources are named tether-<environment>."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "data_state" {
  description = "Where the data root keeps its state (the same bucket/key/region as its backend.hcl)."
  type = object({
    bucket = string
    key    = string
    region = string
  })

  validation {
    condition     = length(var.data_state.bucket) >= 3 && endswith(var.data_state.key, ".tfstate")
    error_message = "data_state needs the state bucket and a key ending in .tfstate."
  }
}

variable "edge_image" {
  description = "tether-edge image (infra/docker/edge.Dockerfile), pinned by tag or digest."
  type        = string
}

variable "state_image" {
  description = "tether-state image (infra/docker/state.Dockerfile), pinned by tag or digest."
  type        = string
}

variable "image_repository_arns" {
  description = "ECR repositories of the two images (the execution roles may pull from these only)."
  type        = list(string)
  default     = []
}

variable "cpu_architecture" {
  description = "Architecture the images were built for: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "certificate_arn" {
  description = "ACM certificate of the public hostname."
  type        = string
}

variable "domain_name" {
  description = "Public hostname (DNS alias to the load balancer, managed elsewhere); null: the load balancer's name."
  type        = string
  default     = null
}

variable "alb_idle_timeout" {
  description = "Load balancer idle timeout in seconds (WebSockets; far above the edge's 25 s ping)."
  type        = number
  default     = 300
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
  default     = false
}

variable "alb_access_logs_bucket" {
  description = "Bucket for load balancer access logs; null: off."
  type        = string
  default     = null
}

variable "edge_drain_seconds" {
  description = "The edge's drain window: the target group's deregistration delay (at most the 120 s stopTimeout)."
  type        = number
  default     = 90
}

variable "jwt_issuer" {
  description = "Expected `iss` of client tokens (TETHER_JWT_ISSUER)."
  type        = string
}

variable "jwt_audience" {
  description = "Expected `aud` of client tokens (TETHER_JWT_AUDIENCE)."
  type        = string
  default     = "tether"
}

variable "edge" {
  description = "Size and scaling of the edge service: task cpu/memory (collector sidecar included), task count range, and the active connections per task autoscaling keeps."
  type = object({
    cpu                  = optional(number, 512)
    memory               = optional(number, 1024)
    min_capacity         = optional(number, 1)
    max_capacity         = optional(number, 3)
    cpu_target           = optional(number, 60)
    connections_per_task = optional(number, 5000)
  })
  default = {}
}

variable "state" {
  description = "Size and scaling of the state service: task cpu/memory (collector sidecar included), task count range, CPU and memory targets, ephemeral storage for the segment cache."
  type = object({
    cpu                   = optional(number, 1024)
    memory                = optional(number, 2048)
    min_capacity          = optional(number, 1)
    max_capacity          = optional(number, 2)
    cpu_target            = optional(number, 60)
    memory_target         = optional(number, 75)
    ephemeral_storage_gib = optional(number, 30)
  })
  default = {}
}

variable "redis_wait_replicas" {
  description = "TETHER_REDIS_WAIT_REPLICAS: 0 acknowledges appends after the Redis primary, 1 after a replica too (survives a failover)."
  type        = number
  default     = 0
}

variable "kafka_events_topic" {
  description = "Kafka topic of the state service's lifecycle events (TETHER_KAFKA_EVENTS_TOPIC); null: no events. Needs MSK (kafka_enabled in the data root) and the topic created beforehand (MSK does not auto-create topics)."
  type        = string
  default     = null
}

variable "kafka_dead_letter_topic" {
  description = "Kafka topic of the messages no route can deliver (TETHER_KAFKA_DEAD_LETTER_TOPIC); null: they are logged, counted and skipped. Needs MSK."
  type        = string
  default     = null
}

variable "kafka_routes" {
  description = "Kafka ingest routes of the state service (TETHER_KAFKA_ROUTES, JSON), in order, the first match wins: exactly one of topic and topic_pattern, a stream name template (README, Kafka), and the content type of the streams it creates (default application/octet-stream). Empty: no ingest. Needs MSK."
  type = list(object({
    topic         = optional(string)
    topic_pattern = optional(string)
    stream        = string
    content_type  = optional(string)
  }))
  default = []
}

variable "log_retention_days" {
  description = "Retention of the services' log groups."
  type        = number
  default     = 14
}

variable "alarm_actions" {
  description = "SNS topics (ARNs) notified by the CloudWatch alarms."
  type        = list(string)
  default     = []
}

variable "prometheus_remote_write" {
  description = "Amazon Managed Prometheus workspace ARN and remote-write endpoint for the Grafana dashboard; null: CloudWatch only."
  type = object({
    workspace_arn = string
    endpoint      = string
  })
  default = null
}
