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
    condition     = length([for k in keys(output.state_environment) : k if startswith(k, "TETHER_KAFKA_")]) == 0
    error_message = "No Kafka setting without Kafka"
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
    error_message = "The Redis password reaches the state service as a Secrets Manager reference (and there is no Kafka password without Kafka)"
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
    kafka_brokers       = "b-1.msk:9096,b-2.msk:9096"
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
      output.state_environment.TETHER_KAFKA_BROKERS == "b-1.msk:9096,b-2.msk:9096" &&
      output.state_environment.TETHER_REDIS_WAIT_REPLICAS == "1"
    )
    error_message = "Optional values are passed when set"
  }
}

run "kafka_with_msk_scram" {
  command = plan

  variables {
    kafka_brokers           = "b-1.msk:9096,b-2.msk:9096"
    kafka_events_topic      = "tether.events"
    kafka_dead_letter_topic = "tether.dead-letters"
    kafka_routes = [
      { topic = "trading.order-filled", stream = "assessment/{payload./assessmentId}", content_type = "application/json" },
      { topic_pattern = "^market\\..*", stream = "market/btc" },
    ]
    kafka_security_protocol        = "SASL_SSL"
    kafka_sasl_mechanism           = "SCRAM-SHA-512"
    kafka_sasl_username            = "tether-state"
    kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf"
  }

  assert {
    condition = (
      output.state_environment.TETHER_KAFKA_EVENTS_TOPIC == "tether.events" &&
      output.state_environment.TETHER_KAFKA_DEAD_LETTER_TOPIC == "tether.dead-letters" &&
      output.state_environment.TETHER_KAFKA_SECURITY_PROTOCOL == "SASL_SSL" &&
      output.state_environment.TETHER_KAFKA_SASL_MECHANISM == "SCRAM-SHA-512" &&
      output.state_environment.TETHER_KAFKA_SASL_USERNAME == "tether-state"
    )
    error_message = "The Kafka topics and SASL settings are passed as plain environment"
  }
  assert {
    # The JSON the binary reads as [[kafka_route]] tables: unset attributes are left out, not null.
    condition = jsondecode(output.state_environment.TETHER_KAFKA_ROUTES) == [
      { topic = "trading.order-filled", stream = "assessment/{payload./assessmentId}", content_type = "application/json" },
      { topic_pattern = "^market\\..*", stream = "market/btc" },
    ]
    error_message = "TETHER_KAFKA_ROUTES is the routes as a JSON array, in order, without null attributes"
  }
  assert {
    condition = output.state_secrets == {
      TETHER_REDIS_PASSWORD      = var.redis_auth_secret_arn
      TETHER_KAFKA_SASL_PASSWORD = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf:password::"
    }
    error_message = "The SASL password comes from the password key of the SCRAM secret (valueFrom ARN:password::)"
  }
  assert {
    condition     = !contains(keys(output.state_environment), "TETHER_KAFKA_SASL_PASSWORD") && length([for v in values(output.state_environment) : v if strcontains(v, "secretsmanager")]) == 0
    error_message = "The SASL password (or its secret) never travels as plain environment"
  }
}

# Kafka validations that refer to another variable run only when that variable is valid (the
# SASL settings form a chain: protocol <- mechanism <- username <- password secret; the topics
# depend on the brokers, the dead-letter topic on the routes). So each run below breaks one link
# of a chain and keeps everything it depends on valid.

run "rejects_invalid_kafka_values" {
  command = plan

  variables {
    kafka_brokers = "b-1.msk:9096"
    # rejects bad events topic
    kafka_events_topic = "tether events"
    # rejects a route with both topic and topic_pattern
    kafka_routes = [{ topic = "orders", topic_pattern = "^orders", stream = "order/{key}" }]
    # rejects unknown security protocol
    kafka_security_protocol = "TLS"
  }

  expect_failures = [
    var.kafka_events_topic,
    var.kafka_routes,
    var.kafka_security_protocol,
  ]
}

run "rejects_invalid_dead_letter_topic_and_iam_mechanism" {
  command = plan

  variables {
    kafka_brokers = "b-1.msk:9096"
    # rejects bad dead-letter topic
    kafka_dead_letter_topic = "tether/dead-letters"
    kafka_security_protocol = "SASL_SSL"
    # rejects MSK IAM mechanism (no OAUTHBEARER provider in tether-state)
    kafka_sasl_mechanism = "AWS_MSK_IAM"
  }

  expect_failures = [
    var.kafka_dead_letter_topic,
    var.kafka_sasl_mechanism,
  ]
}

run "rejects_invalid_sasl_username" {
  command = plan

  variables {
    kafka_brokers           = "b-1.msk:9096"
    kafka_security_protocol = "SASL_SSL"
    kafka_sasl_mechanism    = "SCRAM-SHA-512"
    # rejects username with spaces
    kafka_sasl_username = "tether state"
  }

  expect_failures = [
    var.kafka_sasl_username,
  ]
}

run "rejects_password_secret_with_json_key" {
  command = plan

  variables {
    kafka_brokers           = "b-1.msk:9096"
    kafka_security_protocol = "SASL_SSL"
    kafka_sasl_mechanism    = "SCRAM-SHA-512"
    kafka_sasl_username     = "tether-state"
    # the module adds :password:: itself
    kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf:password::"
  }

  expect_failures = [
    var.kafka_sasl_password_secret_arn,
  ]
}

# Settings that only make sense together are refused apart (tether-state would refuse them at start).
run "rejects_kafka_settings_without_brokers" {
  command = plan

  variables {
    kafka_events_topic      = "tether.events"
    kafka_routes            = [{ topic = "orders", stream = "order/{key}" }]
    kafka_security_protocol = "SSL"
  }

  expect_failures = [
    var.kafka_events_topic,
    var.kafka_routes,
    var.kafka_security_protocol,
  ]
}

run "rejects_sasl_without_mechanism" {
  command = plan

  variables {
    kafka_brokers           = "b-1.msk:9096"
    kafka_security_protocol = "SASL_SSL"
  }

  expect_failures = [
    var.kafka_sasl_mechanism,
  ]
}

run "rejects_sasl_without_a_sasl_protocol" {
  command = plan

  variables {
    kafka_brokers                  = "b-1.msk:9096"
    kafka_security_protocol        = "SSL"
    kafka_sasl_mechanism           = "SCRAM-SHA-512"
    kafka_sasl_username            = "tether-state"
    kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf"
  }

  expect_failures = [
    var.kafka_sasl_mechanism,
  ]
}

run "rejects_username_without_mechanism_and_looping_dead_letters" {
  command = plan

  variables {
    kafka_brokers                  = "b-1.msk:9096"
    kafka_sasl_username            = "tether-state"
    kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf"
    kafka_routes                   = [{ topic = "orders", stream = "order/{key}" }]
    kafka_dead_letter_topic        = "orders"
  }

  expect_failures = [
    var.kafka_sasl_username,
    var.kafka_dead_letter_topic,
  ]
}

run "rejects_password_without_username" {
  command = plan

  variables {
    kafka_brokers                  = "b-1.msk:9096"
    kafka_sasl_password_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf"
  }

  expect_failures = [
    var.kafka_sasl_password_secret_arn,
  ]
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
