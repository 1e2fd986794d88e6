variable "region" {
  description = "AWS region of the environment."
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

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (load balancer), at least two zones."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets with a route to AWS APIs (NAT or VPC endpoints): tasks, Redis, Kafka."
  type        = list(string)
}

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges that may reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "archive_bucket_name" {
  description = "Archive bucket name; null: tether-<environment>-archive-<account id>."
  type        = string
  default     = null
}

variable "archive_retention_days" {
  description = "Days archived segments are kept (older offsets answer 410)."
  type        = number
  default     = 30
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.medium"
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes: a primary and replicas (at least 2)."
  type        = number
  default     = 2
}

variable "redis_snapshot_retention_days" {
  description = "Days Redis snapshots are kept."
  type        = number
  default     = 1
}

variable "kafka_enabled" {
  description = "Create the optional MSK cluster for Kafka ingest."
  type        = bool
  default     = false
}

variable "kafka_broker_count" {
  description = "MSK brokers; null: one per Kafka subnet (the first three private subnets)."
  type        = number
  default     = null
}

variable "kafka_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.t3.small"
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period of a scheduled deletion of the environment's KMS key."
  type        = number
  default     = 7
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret (JWT key, Redis AUTH token, MSK SCRAM credentials) stays recoverable."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Retention of the Redis and Kafka log groups."
  type        = number
  default     = 14
}
