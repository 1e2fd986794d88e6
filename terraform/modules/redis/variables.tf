variable "name" {
  description = "Replication group id (also names the subnet group, parameter group and log group)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2-40 lowercase letters, digits or single dashes, starting with a letter (ElastiCache's rule)."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the cache nodes, in at least two availability zones (Multi-AZ)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs at least two subnet ids (subnet-...) in different zones for Multi-AZ."
  }
}

variable "security_group_id" {
  description = "Security group of the cache nodes (from the network module: ingress 6379 from the state service only)."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]{8,17}$", var.security_group_id))
    error_message = "security_group_id must look like sg-0123abcd."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for encryption at rest (nodes, snapshots) and the slow-log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "auth_token" {
  description = "Initial AUTH token (the secrets module's generated value); later rotations happen outside Terraform."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.auth_token) >= 16 && length(var.auth_token) <= 128 && !can(regex("[/\"@ ]", var.auth_token))
    error_message = "auth_token must be 16-128 characters without '/', '\"', '@' or spaces (ElastiCache's rule)."
  }
}

variable "node_type" {
  description = "Cache node type. Burstable t2/t3/t4g nodes are fine for dev; give production memory-optimised nodes (r6g/r7g)."
  type        = string
  default     = "cache.r7g.large"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type)) && !startswith(var.node_type, "cache.t1.") && !startswith(var.node_type, "cache.t2.")
    error_message = "node_type must be an ElastiCache node type (cache.FAMILY.SIZE); t1/t2 nodes support neither Multi-AZ failover nor encryption well."
  }
}

variable "engine_version" {
  description = "Redis OSS engine version (7.x, the major version Tether's hot log is tested against)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Redis OSS 7.x version such as 7.1."
  }
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group: one primary plus replicas in other zones (at least one replica for failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 2 && var.num_cache_clusters <= 6 && floor(var.num_cache_clusters) == var.num_cache_clusters
    error_message = "num_cache_clusters must be 2-6: automatic failover needs at least one replica."
  }
}

variable "snapshot_retention_days" {
  description = "Days daily snapshots are kept (recovery of Redis-only state such as idempotent-producer state)."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be between 1 and 35 (0 would disable snapshots)."
  }
}

variable "snapshot_window" {
  description = "Daily UTC window of the snapshot (hh24:mi-hh24:mi, at least 60 minutes, not overlapping maintenance)."
  type        = string
  default     = "03:00-04:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.snapshot_window))
    error_message = "snapshot_window must look like 03:00-04:00."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:05:00-sun:06:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:05:00-sun:06:00."
  }
}

variable "log_retention_days" {
  description = "Retention of the slow-log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the maintenance window (a node type change restarts nodes)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
