# The container environment contract of tether-edge and tether-state: the one place where
# Terraform names the variables the binaries read. `local.contract` lists every name per service
# and must equal infra/env-contract.json (tests/service_env.tftest.hcl compares them), which the
# project's tests compare with what the binaries read.
#
# Secret values never appear here: secrets are maps of variable name -> Secrets Manager ARN that
# ecs_service renders as container `secrets` (valueFrom), resolved by ECS at task start.

locals {
  contract = {
    "tether-edge" = {
      environment = ["TETHER_JWT_AUDIENCE", "TETHER_JWT_ISSUER", "TETHER_LISTEN", "TETHER_LOG_FORMAT", "TETHER_STATE_URL"]
      secrets     = ["TETHER_JWT_SECRET"]
      optional    = []
    }
    "tether-state" = {
      environment = [
        "TETHER_DATA_DIR",
        "TETHER_KAFKA_BROKERS",
        "TETHER_KAFKA_DEAD_LETTER_TOPIC",
        "TETHER_KAFKA_EVENTS_TOPIC",
        "TETHER_KAFKA_ROUTES",
        "TETHER_KAFKA_SASL_MECHANISM",
        "TETHER_KAFKA_SASL_USERNAME",
        "TETHER_KAFKA_SECURITY_PROTOCOL",
        "TETHER_LISTEN",
        "TETHER_LOG_FORMAT",
        "TETHER_REDIS_URL",
        "TETHER_REDIS_WAIT_REPLICAS",
        "TETHER_S3_BUCKET",
        "TETHER_S3_ENDPOINT",
        "TETHER_S3_FORCE_PATH_STYLE",
        "TETHER_S3_PREFIX",
        "TETHER_S3_REGION",
      ]
      secrets = ["TETHER_KAFKA_SASL_PASSWORD", "TETHER_REDIS_PASSWORD"]
      # Passed only when set: Kafka only with MSK (and each Kafka setting only when configured),
      # endpoint and path style only off AWS, prefix only when the archive shares its bucket.
      optional = [
        "TETHER_KAFKA_BROKERS",
        "TETHER_KAFKA_DEAD_LETTER_TOPIC",
        "TETHER_KAFKA_EVENTS_TOPIC",
        "TETHER_KAFKA_ROUTES",
        "TETHER_KAFKA_SASL_MECHANISM",
        "TETHER_KAFKA_SASL_PASSWORD",
        "TETHER_KAFKA_SASL_USERNAME",
        "TETHER_KAFKA_SECURITY_PROTOCOL",
        "TETHER_S3_ENDPOINT",
        "TETHER_S3_FORCE_PATH_STYLE",
        "TETHER_S3_PREFIX",
      ]
    }
  }

  edge_environment = {
    TETHER_LISTEN       = "0.0.0.0:${var.edge_port}"
    TETHER_STATE_URL    = join(",", var.state_urls)
    TETHER_LOG_FORMAT   = var.log_format
    TETHER_JWT_ISSUER   = var.jwt_issuer
    TETHER_JWT_AUDIENCE = var.jwt_audience
  }

  edge_secrets = {
    TETHER_JWT_SECRET = var.jwt_secret_arn
  }

  # The JSON form of the [[kafka_route]] tables; unset attributes are left out, so the binary's
  # defaults apply (content_type).
  kafka_routes_json = length(var.kafka_routes) == 0 ? null : jsonencode([
    for r in var.kafka_routes : { for k, v in r : k => v if v != null }
  ])

  state_environment = { for k, v in {
    TETHER_LISTEN                  = "0.0.0.0:${var.state_port}"
    TETHER_DATA_DIR                = var.data_dir
    TETHER_LOG_FORMAT              = var.log_format
    TETHER_REDIS_URL               = var.redis_url
    TETHER_REDIS_WAIT_REPLICAS     = tostring(var.redis_wait_replicas)
    TETHER_S3_BUCKET               = var.s3_bucket
    TETHER_S3_REGION               = var.s3_region
    TETHER_S3_PREFIX               = var.s3_prefix == "" ? null : var.s3_prefix
    TETHER_S3_ENDPOINT             = var.s3_endpoint
    TETHER_S3_FORCE_PATH_STYLE     = var.s3_force_path_style == null ? null : tostring(var.s3_force_path_style)
    TETHER_KAFKA_BROKERS           = var.kafka_brokers == "" ? null : var.kafka_brokers
    TETHER_KAFKA_EVENTS_TOPIC      = var.kafka_events_topic
    TETHER_KAFKA_ROUTES            = local.kafka_routes_json
    TETHER_KAFKA_DEAD_LETTER_TOPIC = var.kafka_dead_letter_topic
    TETHER_KAFKA_SECURITY_PROTOCOL = var.kafka_security_protocol
    TETHER_KAFKA_SASL_MECHANISM    = var.kafka_sasl_mechanism
    TETHER_KAFKA_SASL_USERNAME     = var.kafka_sasl_username
  } : k => v if v != null }

  state_secrets = { for k, v in {
    TETHER_REDIS_PASSWORD = var.redis_auth_secret_arn
    # MSK's SCRAM secret is JSON {username, password}: ECS injects the password key only.
    TETHER_KAFKA_SASL_PASSWORD = var.kafka_sasl_password_secret_arn == null ? null : "${var.kafka_sasl_password_secret_arn}:password::"
  } : k => v if v != null }
}
