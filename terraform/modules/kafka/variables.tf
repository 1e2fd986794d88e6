variable "enabled" {
  description = "Create the MSK cluster. Kafka ingest is optional: without it tether-state takes appends over HTTP only."
  type        = bool
  default     = false
}

variable "name" {
  description = "Cluster name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,63}$", var.name))
    error_message = "name must be 1-64 letters, digits or dashes, starting with a letter."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the brokers, one per availability zone (2 or 3)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(var.subnet_ids) <= 3 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs two or three subnet ids (subnet-...), one per availability zone."
  }
}

variable "security_group_id" {
  description = "Security group of the brokers (network module: ingress from the state service only); null when disabled."
  type        = string
  default     = null

  validation {
    condition     = var.security_group_id == null || can(regex("^sg-[0-9a-f]{8,17}$", var.security_group_id))
    error_message = "security_group_id must look like sg-0123abcd."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key (the kms module's) for broker storage, the broker log group and the SCRAM secret; MSK rejects secrets under the default aws/secretsmanager key."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "kafka_version" {
  description = "Apache Kafka version of the brokers."
  type        = string
  default     = "3.6.0"

  validation {
    condition     = can(regex("^3\\.[0-9]+\\.[0-9x]+(\\.kraft)?$", var.kafka_version))
    error_message = "kafka_version must be a Kafka 3.x version such as 3.6.0."
  }
}

variable "broker_count" {
  description = "Number of brokers; a multiple of the number of subnets (MSK spreads them evenly)."
  type        = number
  default     = 3

  validation {
    condition     = var.broker_count >= 2 && floor(var.broker_count) == var.broker_count && var.broker_count % length(var.subnet_ids) == 0
    error_message = "broker_count must be at least 2 and a multiple of the number of subnets."
  }
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
  default     = "kafka.m7g.large"

  validation {
    condition     = can(regex("^kafka\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an MSK broker type such as kafka.m7g.large."
  }
}

variable "volume_size_gib" {
  description = "EBS storage per broker, in GiB."
  type        = number
  default     = 100

  validation {
    condition     = var.volume_size_gib >= 1 && var.volume_size_gib <= 16384
    error_message = "volume_size_gib must be between 1 and 16384."
  }
}

variable "log_retention_days" {
  description = "Retention of the broker log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "scram_username" {
  description = "SASL/SCRAM user tether-state signs in as (TETHER_KAFKA_SASL_USERNAME); also part of the secret's name."
  type        = string
  default     = "tether-state"

  validation {
    # Kafka escapes ',' and '=' in SCRAM names and the secret name allows few characters: keep it plain.
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._-]{0,63}$", var.scram_username))
    error_message = "scram_username must be 1-64 letters, digits, '.', '_' or '-', starting with a letter."
  }
}

variable "secret_recovery_window_in_days" {
  description = "Days the deleted SCRAM secret stays recoverable before Secrets Manager erases it."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30
    error_message = "secret_recovery_window_in_days must be between 7 and 30 (0, immediate deletion, is not allowed here)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
