# The app root end to end, against a mocked AWS provider and a stand-in for the data root's
# state: load balancer settings for WebSockets, the container environment contract, secrets only
# as references, drain timing and autoscaling.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  # ARNs other modules validate, known at plan time.
  mock_resource "aws_ecs_cluster" {
    override_during = plan
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/tether-prod"
    }
  }
  mock_resource "aws_service_discovery_http_namespace" {
    override_during = plan
    defaults = {
      arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    override_during = plan
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tether-prod/0123456789abcdef"
    }
  }
}

override_data {
  target = data.terraform_remote_state.data
  values = {
    outputs = {
      region                         = "eu-west-1"
      environment                    = "prod"
      vpc_id                         = "vpc-0123456789abcdef0"
      public_subnet_ids              = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
      private_subnet_ids             = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
      security_group_ids             = { alb = "sg-000000000000000a1", edge = "sg-000000000000000e1", state = "sg-000000000000000f1", redis = "sg-000000000000000c1" }
      kms_key_arn                    = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      archive_bucket_name            = "tether-prod-archive-123456789012"
      archive_prefix                 = ""
      archive_access_policy_json     = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
      redis_primary_endpoint         = "master.tether-prod.abc123.euw1.cache.amazonaws.com"
      redis_url                      = "rediss://master.tether-prod.abc123.euw1.cache.amazonaws.com:6379"
      redis_auth_secret_arn          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/redis-auth-token-AbCdEf"
      jwt_secret_arn                 = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/jwt-secret-AbCdEf"
      kafka_enabled                  = false
      kafka_bootstrap_brokers        = ""
      kafka_security_protocol        = null
      kafka_sasl_mechanism           = null
      kafka_sasl_username            = null
      kafka_scram_secret_arn         = null
      kafka_scram_secret_kms_key_arn = null
    }
  }
}

variables {
  data_state      = { bucket = "example-org-terraform-state", key = "tether/prod/data.tfstate", region = "eu-west-1" }
  edge_image      = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tether-edge:0.1.0"
  state_image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tether-state:0.1.0"
  certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  domain_name     = "stream.example.com"
  jwt_issuer      = "https://auth.example.com/"
}

run "load_balancer_for_websockets" {
  command = plan

  assert {
    condition     = output.wss_url == "wss://stream.example.com"
    error_message = "Clients connect with wss:// to the public hostname"
  }
  assert {
    condition     = module.edge_lb.deregistration_delay == 90
    error_message = "The edge drains for 90 s"
  }
  assert {
    condition     = one([for c in module.edge.container_definitions : c if c.name == "tether-edge"]).stopTimeout >= module.edge_lb.deregistration_delay
    error_message = "stopTimeout must be at least the deregistration delay"
  }
}

run "edge_environment_contract" {
  command = plan

  assert {
    condition = {
      for e in one([for c in module.edge.container_definitions : c if c.name == "tether-edge"]).environment : e.name => e.value
      } == {
      TETHER_LISTEN       = "0.0.0.0:8080"
      TETHER_STATE_URL    = "http://tether-state:4437"
      TETHER_LOG_FORMAT   = "json"
      TETHER_JWT_ISSUER   = "https://auth.example.com/"
      TETHER_JWT_AUDIENCE = "tether"
    }
    error_message = "The edge's environment is the contract's"
  }
  assert {
    condition     = one([for c in module.edge.container_definitions : c if c.name == "tether-edge"]).secrets == [{ name = "TETHER_JWT_SECRET", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/jwt-secret-AbCdEf" }]
    error_message = "The JWT key comes from Secrets Manager"
  }
}

run "state_environment_contract" {
  command = plan

  assert {
    condition = {
      for e in one([for c in module.state.container_definitions : c if c.name == "tether-state"]).environment : e.name => e.value
      } == {
      TETHER_LISTEN              = "0.0.0.0:4437"
      TETHER_DATA_DIR            = "/var/lib/tether"
      TETHER_LOG_FORMAT          = "json"
      TETHER_REDIS_URL           = "rediss://master.tether-prod.abc123.euw1.cache.amazonaws.com:6379"
      TETHER_REDIS_WAIT_REPLICAS = "1"
      TETHER_S3_BUCKET           = "tether-prod-archive-123456789012"
      TETHER_S3_REGION           = "eu-west-1"
    }
    error_message = "The state service's environment is the contract's (no endpoint, path style or Kafka on AWS without MSK)"
  }
  assert {
    condition     = one([for c in module.state.container_definitions : c if c.name == "tether-state"]).secrets == [{ name = "TETHER_REDIS_PASSWORD", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/redis-auth-token-AbCdEf" }]
    error_message = "The Redis password comes from Secrets Manager"
  }
}

# With MSK (SASL/SCRAM) in the data root: brokers, topics, routes and the SASL settings as
# plain environment, the password only as a reference to the SCRAM secret's password key.
run "state_kafka_over_msk_scram" {
  command = plan

  override_data {
    target = data.terraform_remote_state.data
    values = {
      outputs = {
        region                         = "eu-west-1"
        environment                    = "prod"
        vpc_id                         = "vpc-0123456789abcdef0"
        public_subnet_ids              = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
        private_subnet_ids             = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
        security_group_ids             = { alb = "sg-000000000000000a1", edge = "sg-000000000000000e1", state = "sg-000000000000000f1", redis = "sg-000000000000000c1", kafka = "sg-000000000000000d1" }
        kms_key_arn                    = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
        archive_bucket_name            = "tether-prod-archive-123456789012"
        archive_prefix                 = ""
        archive_access_policy_json     = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
        redis_primary_endpoint         = "master.tether-prod.abc123.euw1.cache.amazonaws.com"
        redis_url                      = "rediss://master.tether-prod.abc123.euw1.cache.amazonaws.com:6379"
        redis_auth_secret_arn          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/redis-auth-token-AbCdEf"
        jwt_secret_arn                 = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/jwt-secret-AbCdEf"
        kafka_enabled                  = true
        kafka_bootstrap_brokers        = "b-1.tetherprod.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.tetherprod.abc123.c2.kafka.eu-west-1.amazonaws.com:9096"
        kafka_security_protocol        = "SASL_SSL"
        kafka_sasl_mechanism           = "SCRAM-SHA-512"
        kafka_sasl_username            = "tether-state"
        kafka_scram_secret_arn         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-prod/tether-state-AbCdEf"
        kafka_scram_secret_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      }
    }
  }

  variables {
    kafka_events_topic      = "tether.events"
    kafka_dead_letter_topic = "tether.dead-letters"
    kafka_routes = [
      { topic = "trading.order-filled", stream = "assessment/{payload./assessmentId}", content_type = "application/json" },
      { topic_pattern = "^market\\..*", stream = "market/btc" },
    ]
  }

  assert {
    condition = {
      for e in one([for c in module.state.container_definitions : c if c.name == "tether-state"]).environment : e.name => e.value if startswith(e.name, "TETHER_KAFKA_")
      } == {
      TETHER_KAFKA_BROKERS           = "b-1.tetherprod.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,b-2.tetherprod.abc123.c2.kafka.eu-west-1.amazonaws.com:9096"
      TETHER_KAFKA_EVENTS_TOPIC      = "tether.events"
      TETHER_KAFKA_DEAD_LETTER_TOPIC = "tether.dead-letters"
      TETHER_KAFKA_ROUTES            = "[{\"content_type\":\"application/json\",\"stream\":\"assessment/{payload./assessmentId}\",\"topic\":\"trading.order-filled\"},{\"stream\":\"market/btc\",\"topic_pattern\":\"^market\\\\..*\"}]"
      TETHER_KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
      TETHER_KAFKA_SASL_MECHANISM    = "SCRAM-SHA-512"
      TETHER_KAFKA_SASL_USERNAME     = "tether-state"
    }
    error_message = "The state service reaches MSK over SASL_SSL/SCRAM-SHA-512 with the configured topics and routes"
  }
  assert {
    condition = one([for c in module.state.container_definitions : c if c.name == "tether-state"]).secrets == [
      { name = "TETHER_KAFKA_SASL_PASSWORD", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-prod/tether-state-AbCdEf:password::" },
      { name = "TETHER_REDIS_PASSWORD", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/prod/redis-auth-token-AbCdEf" },
    ]
    error_message = "The SASL password comes from the SCRAM secret's password key, never from plain environment"
  }
  assert {
    condition = alltrue([
      for e in one([for c in module.state.container_definitions : c if c.name == "tether-state"]).environment : !can(regex("(?i)(secret|password|token)$", e.name)) && !strcontains(e.value, "secretsmanager")
    ])
    error_message = "No secret and no secret reference in the state service's plain environment"
  }
}

run "no_secret_in_plain_environment" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for c in concat(module.edge.container_definitions, module.state.container_definitions) : [
        for e in c.environment : !contains(["TETHER_JWT_SECRET", "TETHER_REDIS_PASSWORD"], e.name) && !can(regex("(?i)(secret|password|token)$", e.name))
      ]
    ]))
    error_message = "No container gets a secret through plain environment"
  }
}

run "metrics_collectors" {
  command = plan

  assert {
    condition     = length([for c in module.edge.container_definitions : c if c.name == "collector"]) == 1 && length([for c in module.state.container_definitions : c if c.name == "collector"]) == 1
    error_message = "Both services run the metrics collector"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad region
    region = "eu-west"
    # rejects bad environment
    environment = "Production"
    # rejects bad data state
    data_state = { bucket = "example-org-terraform-state", key = "tether/prod/data", region = "eu-west-1" }
  }

  expect_failures = [
    var.region,
    var.environment,
    var.data_state,
  ]
}
