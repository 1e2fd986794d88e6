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

variable "kafka_events_topic" {
  description = "Topic of tether-state's lifecycle events (TETHER_KAFKA_EVENTS_TOPIC); null: no events. Needs kafka_brokers."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_events_topic == null || can(regex("^[A-Za-z0-9._-]{1,249}$", var.kafka_events_topic))
    error_message = "kafka_events_topic must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -) or null."
  }

  validation {
    condition     = var.kafka_events_topic == null || var.kafka_brokers != ""
    error_message = "kafka_events_topic needs kafka_brokers (MSK enabled in the data root)."
  }
}

variable "kafka_dead_letter_topic" {
  description = "Topic of the Kafka messages no route can deliver (TETHER_KAFKA_DEAD_LETTER_TOPIC); null: they are logged, counted and skipped."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_dead_letter_topic == null || can(regex("^[A-Za-z0-9._-]{1,249}$", var.kafka_dead_letter_topic))
    error_message = "kafka_dead_letter_topic must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -) or null."
  }

  validation {
    condition     = var.kafka_dead_letter_topic == null || !contains([for r in var.kafka_routes : r.topic if r.topic != null], coalesce(var.kafka_dead_letter_topic, "-"))
    error_message = "kafka_dead_letter_topic must not be an ingest topic of kafka_routes: dead letters would loop."
  }
}

variable "kafka_routes" {
  description = "Kafka ingest routes of tether-state (TETHER_KAFKA_ROUTES as JSON; omitted when empty), in order, the first match wins: each the README's [[kafka_route]] table, with exactly one of topic and topic_pattern (a regular expression anchored at the start), a stream name template such as assessment/{payload./assessmentId}, and the content type of the streams it creates (default application/octet-stream)."
  type = list(object({
    topic         = optional(string)
    topic_pattern = optional(string)
    stream        = string
    content_type  = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.kafka_routes : (r.topic == null) != (r.topic_pattern == null)])
    error_message = "Each of kafka_routes needs exactly one of topic and topic_pattern."
  }

  validation {
    condition     = alltrue([for r in var.kafka_routes : r.topic == null || can(regex("^[A-Za-z0-9._-]{1,249}$", r.topic))])
    error_message = "A kafka_routes topic must be a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)."
  }

  validation {
    # The binary checks the template itself (placeholders, stream name rules) at start.
    condition     = alltrue([for r in var.kafka_routes : can(regex("^[^\\s]+$", r.stream)) && (r.content_type == null || can(regex("^[a-z]+/[^\\s;]+", coalesce(r.content_type, "-"))))])
    error_message = "Each of kafka_routes needs a stream template without spaces, and content_type, when set, must be a media type such as application/json."
  }

  validation {
    condition     = length(var.kafka_routes) == 0 || var.kafka_brokers != ""
    error_message = "kafka_routes need kafka_brokers (MSK enabled in the data root)."
  }
}

variable "kafka_security_protocol" {
  description = "librdkafka security.protocol of tether-state (TETHER_KAFKA_SECURITY_PROTOCOL); null: omitted (PLAINTEXT). MSK with SCRAM: SASL_SSL."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_security_protocol == null || contains(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], coalesce(var.kafka_security_protocol, "-"))
    error_message = "kafka_security_protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL or null."
  }

  validation {
    condition     = var.kafka_security_protocol == null || var.kafka_brokers != ""
    error_message = "kafka_security_protocol needs kafka_brokers."
  }
}

variable "kafka_sasl_mechanism" {
  description = "librdkafka sasl.mechanism of tether-state (TETHER_KAFKA_SASL_MECHANISM); null: no SASL. MSK: SCRAM-SHA-512 (the binary has no provider for MSK's IAM mechanism)."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_sasl_mechanism == null || contains(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], coalesce(var.kafka_sasl_mechanism, "-"))
    error_message = "kafka_sasl_mechanism must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or null."
  }

  # The SASL settings come all together or not at all, each checked against the one before it
  # (protocol <- mechanism <- username <- password secret: validations may not form a cycle).
  # tether-state refuses the same mistakes at start; here they fail the plan instead.
  validation {
    # Only SASL protocols send credentials, and librdkafka's default mechanism (GSSAPI) is not built in.
    condition     = (var.kafka_sasl_mechanism != null) == startswith(coalesce(var.kafka_security_protocol, "PLAINTEXT"), "SASL_")
    error_message = "kafka_sasl_mechanism is needed exactly when kafka_security_protocol is SASL_SSL or SASL_PLAINTEXT."
  }
}

variable "kafka_sasl_username" {
  description = "SASL user of tether-state (TETHER_KAFKA_SASL_USERNAME, plain environment: not a secret); null: no SASL."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_sasl_username == null || can(regex("^[^\\s]{1,256}$", var.kafka_sasl_username))
    error_message = "kafka_sasl_username must be 1-256 characters without spaces, or null."
  }

  validation {
    condition     = (var.kafka_sasl_username != null) == (var.kafka_sasl_mechanism != null)
    error_message = "kafka_sasl_username is needed exactly when kafka_sasl_mechanism is set (PLAIN and SCRAM log in with a username and a password)."
  }
}

variable "kafka_sasl_password_secret_arn" {
  description = "Secrets Manager ARN of the SASL credentials, JSON with a password key (the format of MSK's SCRAM secrets): TETHER_KAFKA_SASL_PASSWORD is injected from that key (valueFrom ARN:password::), never passed as plain environment. null: no password."
  type        = string
  default     = null

  validation {
    condition     = var.kafka_sasl_password_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:[^:]+$", var.kafka_sasl_password_secret_arn))
    error_message = "kafka_sasl_password_secret_arn must be a Secrets Manager secret ARN without a JSON key suffix (the password key is added here), or null."
  }

  validation {
    condition     = (var.kafka_sasl_password_secret_arn != null) == (var.kafka_sasl_username != null)
    error_message = "kafka_sasl_password_secret_arn is needed exactly when kafka_sasl_username is set."
  }
}
