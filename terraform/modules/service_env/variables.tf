variable "edge_port" {
  description = "Port tether-edge listens on (TETHER_LISTEN=0.0.0.0:<port>)."
  type        = number
  default     = 8080

  validation {
    condition     = var.edge_port >= 1024 && var.edge_port <= 65535 && floor(var.edge_port) == var.edge_port
    error_message = "edge_port must be an unprivileged port (1024-65535)."
  }
}

variable "state_port" {
  description = "Port tether-state listens on (TETHER_LISTEN=0.0.0.0:<port>)."
  type        = number
  default     = 4437

  validation {
    condition     = var.state_port >= 1024 && var.state_port <= 65535 && floor(var.state_port) == var.state_port
    error_message = "state_port must be an unprivileged port (1024-65535)."
  }
}

variable "log_format" {
  description = "Log format of both services (TETHER_LOG_FORMAT): json for CloudWatch Logs Insights."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["json", "text"], var.log_format)
    error_message = "log_format must be json or text."
  }
}

variable "state_urls" {
  description = "Base URLs of the state service the edges call (TETHER_STATE_URL, joined with commas)."
  type        = list(string)

  validation {
    condition     = length(var.state_urls) > 0 && alltrue([for u in var.state_urls : can(regex("^https?://[^,\\s/]+(:[0-9]+)?/?$", u))])
    error_message = "state_urls must be a non-empty list of http(s)://host[:port] URLs without commas."
  }
}

variable "jwt_issuer" {
  description = "Expected `iss` claim of client tokens (TETHER_JWT_ISSUER)."
  type        = string

  validation {
    condition     = length(trimspace(var.jwt_issuer)) > 0
    error_message = "jwt_issuer must not be empty: tokens from any issuer would be accepted."
  }
}

variable "jwt_audience" {
  description = "Expected `aud` claim of client tokens (TETHER_JWT_AUDIENCE)."
  type        = string

  validation {
    condition     = length(trimspace(var.jwt_audience)) > 0
    error_message = "jwt_audience must not be empty: tokens minted for other services would be accepted."
  }
}

variable "jwt_secret_arn" {
  description = "Secrets Manager ARN of the JWT key (TETHER_JWT_SECRET, injected as a container secret)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+$", var.jwt_secret_arn))
    error_message = "jwt_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "redis_url" {
  description = "TLS URL of the Redis primary without credentials (TETHER_REDIS_URL)."
  type        = string

  validation {
    condition     = can(regex("^rediss://[^@/\\s]+:[0-9]+/?$", var.redis_url))
    error_message = "redis_url must be rediss://host:port (TLS, no credentials: the password comes from a secret)."
  }
}

variable "redis_auth_secret_arn" {
  description = "Secrets Manager ARN of the Redis AUTH token (TETHER_REDIS_PASSWORD, injected as a container secret)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+$", var.redis_auth_secret_arn))
    error_message = "redis_auth_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "redis_wait_replicas" {
  description = "Replicas an append must reach before it is acknowledged (TETHER_REDIS_WAIT_REPLICAS): 0 acknowledges after the primary, 1 survives a failover."
  type        = number
  default     = 0

  validation {
    condition     = var.redis_wait_replicas >= 0 && var.redis_wait_replicas <= 5 && floor(var.redis_wait_replicas) == var.redis_wait_replicas
    error_message = "redis_wait_replicas must be 0-5 (ElastiCache has at most 5 replicas)."
  }
}

variable "data_dir" {
  description = "Writable directory of tether-state inside its container (TETHER_DATA_DIR: segment cache)."
  type        = string
  default     = "/var/lib/tether"

  validation {
    condition     = startswith(var.data_dir, "/")
    error_message = "data_dir must be an absolute path."
  }
}

variable "s3_bucket" {
  description = "Archive bucket (TETHER_S3_BUCKET)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.s3_bucket))
    error_message = "s3_bucket must be a valid S3 bucket name."
  }
}

variable "s3_region" {
  description = "Region of the archive bucket (TETHER_S3_REGION)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.s3_region))
    error_message = "s3_region must be an AWS region such as eu-west-1."
  }
}

variable "s3_prefix" {
  description = "Key prefix of the archive (TETHER_S3_PREFIX, omitted when empty)."
  type        = string
  default     = ""

  validation {
    condition     = var.s3_prefix == "" || (endswith(var.s3_prefix, "/") && !startswith(var.s3_prefix, "/"))
    error_message = "s3_prefix must be empty or end with '/' and not start with '/'."
  }
}

variable "s3_endpoint" {
  description = "S3-compatible endpoint (TETHER_S3_ENDPOINT); null on AWS, where it is omitted."
  type        = string
  default     = null

  validation {
    condition     = var.s3_endpoint == null || can(regex("^https?://", var.s3_endpoint))
    error_message = "s3_endpoint must be an http(s):// URL or null."
  }
}

variable "s3_force_path_style" {
  description = "Path-style S3 addressing (TETHER_S3_FORCE_PATH_STYLE); null on AWS, where it is omitted."
  type        = bool
  default     = null
}

variable "kafka_brokers" {
  description = "Kafka bootstrap brokers (TETHER_KAFKA_BROKERS, omitted when empty: no Kafka ingest)."
  type        = string
  default     = ""

  validation {
    condition     = var.kafka_brokers == "" || alltrue([for b in split(",", var.kafka_brokers) : can(regex("^[A-Za-z0-9.-]+:[0-9]+$", b))])
    error_message = "kafka_brokers must be empty or a comma-separated list of host:port."
  }
}
