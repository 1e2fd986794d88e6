# The environment contract: Terraform's names equal infra/env-contract.json, secrets never travel
# as plain environment, optional variables are omitted when unset.

variables {
  state_urls            = ["http://tether-state:4437"]
  jwt_issuer            = "https://auth.example.com/"
  jwt_audience          = "tether"
  jwt_secret_arn        = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/test/jwt-secret-AbCdEf"
  redis_url             = "rediss://master.tether-test.abc123.euw1.cache.amazonaws.com:6379"
  redis_auth_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/test/redis-auth-token-AbCdEf"
  s3_bucket             = "tether-test-archive"
  s3_region             = "eu-west-1"
}

run "contract_matches_infra_env_contract_json" {
  command = plan

  assert {
    # Terraform runs from this module's directory; the repository layout puts the JSON at
    # infra/env-contract.json (infra/terraform-check.sh copies it beside terraform/).
    condition     = jsondecode(file("../../../infra/env-contract.json")).services == output.contract
    error_message = "terraform/modules/service_env and infra/env-contract.json disagree: update both"
  }
}

run "aws_defaults" {
  command = plan

  assert {
    condition     = output.edge_environment.TETHER_LISTEN == "0.0.0.0:8080" && output.state_environment.TETHER_LISTEN == "0.0.0.0:4437"
    error_message = "Edges listen on 8080 and the state service on 4437, on all interfaces"
  }
  assert {
    condition     = output.edge_environment.TETHER_LOG_FORMAT == "json" && output.state_environment.TETHER_LOG_FORMAT == "json"
    error_message = "Both services log JSON by default"
  }
  assert {
    condition     = output.edge_environment.TETHER_STATE_URL == "http://tether-state:4437"
    error_message = "Edges reach the state service through its Service Connect name"
  }
  assert {
    condition     = startswith(output.state_environment.TETHER_REDIS_URL, "rediss://") && !strcontains(output.state_environment.TETHER_REDIS_URL, "@")
    error_message = "The Redis URL uses TLS and carries no password"
  }
  assert {
    condition = alltrue([
      for k in ["TETHER_S3_ENDPOINT", "TETHER_S3_FORCE_PATH_STYLE", "TETHER_S3_PREFIX", "TETHER_KAFKA_BROKERS"] : !contains(keys(output.state_environment), k)
    ])
    error_message = "Optional variables are omitted on AWS without Kafka"
  }
  assert {
    condition     = output.state_environment.TETHER_REDIS_WAIT_REPLICAS == "0"
    error_message = "Acknowledge after the primary unless told otherwise"
  }
}

run "secrets_only_as_secrets" {
  command = plan

  assert {
    condition     = output.edge_secrets == { TETHER_JWT_SECRET = var.jwt_secret_arn }
    error_message = "The JWT key reaches the edge as a Secrets Manager reference"
  }
  assert {
    condition     = output.state_secrets == { TETHER_REDIS_PASSWORD = var.redis_auth_secret_arn }
    error_message = "The Redis password reaches the state service as a Secrets Manager reference"
  }
  assert {
    condition     = !contains(keys(output.edge_environment), "TETHER_JWT_SECRET") && !contains(keys(output.state_environment), "TETHER_REDIS_PASSWORD")
    error_message = "No secret in plain environment"
  }
}

run "multiple_state_urls_and_optional_values" {
  command = plan

  variables {
    state_urls          = ["http://state-a:4437", "http://state-b:4437"]
    s3_prefix           = "tether/"
    s3_endpoint         = "http://moto:5000"
    s3_force_path_style = true
    kafka_brokers       = "b-1.msk:9098,b-2.msk:9098"
    redis_wait_replicas = 1
  }

  assert {
    condition     = output.edge_environment.TETHER_STATE_URL == "http://state-a:4437,http://state-b:4437"
    error_message = "Several state URLs are joined with commas"
  }
  assert {
    condition = (
      output.state_environment.TETHER_S3_PREFIX == "tether/" &&
      output.state_environment.TETHER_S3_ENDPOINT == "http://moto:5000" &&
      output.state_environment.TETHER_S3_FORCE_PATH_STYLE == "true" &&
      output.state_environment.TETHER_KAFKA_BROKERS == "b-1.msk:9098,b-2.msk:9098" &&
      output.state_environment.TETHER_REDIS_WAIT_REPLICAS == "1"
    )
    error_message = "Optional values are passed when set"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects privileged edge port
    edge_port = 443
    # rejects privileged state port
    state_port = 80
    # rejects unknown log format
    log_format = "logfmt"
    # rejects state url with comma
    state_urls = ["http://a:4437,http://b:4437"]
    # rejects empty issuer
    jwt_issuer = " "
    # rejects empty audience
    jwt_audience = ""
    # rejects plaintext jwt secret
    jwt_secret_arn = "super-secret-signing-key"
    # rejects redis url without tls or with password
    redis_url = "redis://:hunter2@redis:6379"
    # rejects plaintext redis password
    redis_auth_secret_arn = "hunter2hunter2hunter2"
    # rejects too many wait replicas
    redis_wait_replicas = 6
    # rejects relative data dir
    data_dir = "tether-data"
    # rejects bad bucket
    s3_bucket = "s3://tether"
    # rejects bad region
    s3_region = "Ireland"
    # rejects prefix without slash
    s3_prefix = "tether"
    # rejects endpoint without scheme
    s3_endpoint = "moto:5000"
    # rejects bad kafka brokers
    kafka_brokers = "b-1.msk"
  }

  expect_failures = [
    var.edge_port,
    var.state_port,
    var.log_format,
    var.state_urls,
    var.jwt_issuer,
    var.jwt_audience,
    var.jwt_secret_arn,
    var.redis_url,
    var.redis_auth_secret_arn,
    var.redis_wait_replicas,
    var.data_dir,
    var.s3_bucket,
    var.s3_region,
    var.s3_prefix,
    var.s3_endpoint,
    var.kafka_brokers,
  ]
}
