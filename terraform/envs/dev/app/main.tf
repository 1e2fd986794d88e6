# App root of one environment: the ECS cluster, the public load balancer and the two services.
# Everything stateful comes from the data root (terraform_remote_state), so this root can be
# destroyed and recreated freely.

data "terraform_remote_state" "data" {
  backend = "s3"
  config = {
    bucket = var.data_state.bucket
    key    = var.data_state.key
    region = var.data_state.region
  }
}

locals {
  data = data.terraform_remote_state.data.outputs
  name = "tether-${var.environment}"

  edge_port  = 8080
  state_port = 4437
  # The name edges resolve the state service by (Service Connect client alias).
  state_dns_name = "tether-state"

  edge_service_name  = "${local.name}-edge"
  state_service_name = "${local.name}-state"
}

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_224:ECS Exec is disabled on both services (enable_execute_command = false), so there is no exec session to log; the session key is the environment's CMK anyway.
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = local.data.kms_key_arn
      logging    = "DEFAULT"
    }
  }
}

# Cloud Map namespace of Service Connect: edges reach the state service as
# http://tether-state:4437, balanced over its healthy tasks.
resource "aws_service_discovery_http_namespace" "this" {
  name        = local.name
  description = "Service Connect namespace of ${local.name}"
}

module "env" {
  source = "../../../modules/service_env"

  edge_port             = local.edge_port
  state_port            = local.state_port
  state_urls            = ["http://${local.state_dns_name}:${local.state_port}"]
  jwt_issuer            = var.jwt_issuer
  jwt_audience          = var.jwt_audience
  jwt_secret_arn        = local.data.jwt_secret_arn
  redis_url             = local.data.redis_url
  redis_auth_secret_arn = local.data.redis_auth_secret_arn
  redis_wait_replicas   = var.redis_wait_replicas
  s3_bucket             = local.data.archive_bucket_name
  s3_region             = local.data.region
  s3_prefix             = local.data.archive_prefix

  # Kafka (MSK with SASL/SCRAM from the data root); every setting is omitted without MSK.
  kafka_brokers           = local.data.kafka_bootstrap_brokers
  kafka_events_topic      = var.kafka_events_topic
  kafka_dead_letter_topic = var.kafka_dead_letter_topic
  kafka_routes            = var.kafka_routes
  kafka_security_protocol = local.data.kafka_security_protocol
  kafka_sasl_mechanism    = local.data.kafka_sasl_mechanism
  kafka_sasl_username     = local.data.kafka_sasl_username
  # The password itself stays in Secrets Manager: ECS injects its `password` key.
  kafka_sasl_password_secret_arn = local.data.kafka_scram_secret_arn
}

module "edge_lb" {
  source = "../../../modules/edge_lb"

  name                 = local.name
  vpc_id               = local.data.vpc_id
  subnet_ids           = local.data.public_subnet_ids
  security_group_id    = local.data.security_group_ids["alb"]
  certificate_arn      = var.certificate_arn
  domain_name          = var.domain_name
  idle_timeout         = var.alb_idle_timeout
  target_port          = local.edge_port
  deregistration_delay = var.edge_drain_seconds
  deletion_protection  = var.alb_deletion_protection
  access_logs_bucket   = var.alb_access_logs_bucket
}

module "observability" {
  source = "../../../modules/observability"

  name                    = local.name
  cluster_name            = aws_ecs_cluster.this.name
  kms_key_arn             = local.data.kms_key_arn
  kafka_enabled           = local.data.kafka_enabled
  alarm_actions           = var.alarm_actions
  prometheus_remote_write = var.prometheus_remote_write
  scrape_targets = {
    edge  = { service_name = local.edge_service_name, port = local.edge_port }
    state = { service_name = local.state_service_name, port = local.state_port }
  }
}

# The state service's own permissions: its archive prefix and key. MSK needs none (SASL/SCRAM:
# the credentials reach the container through the execution role, below).
data "aws_iam_policy_document" "state_task" {
  source_policy_documents = [local.data.archive_access_policy_json]
}

module "state" {
  source = "../../../modules/ecs_service"

  name                  = local.state_service_name
  container_name        = "tether-state"
  cluster_arn           = aws_ecs_cluster.this.arn
  image                 = var.state_image
  image_repository_arns = var.image_repository_arns
  cpu_architecture      = var.cpu_architecture
  cpu                   = var.state.cpu
  memory                = var.state.memory
  container_port        = local.state_port
  environment           = module.env.state_environment
  secrets               = module.env.state_secrets
  kms_key_arn           = local.data.kms_key_arn
  # The execution role reads the SCRAM secret (a secret above) and decrypts it with its key.
  secrets_kms_key_arns  = compact([local.data.kafka_scram_secret_kms_key_arn])
  log_retention_days    = var.log_retention_days
  subnet_ids            = local.data.private_subnet_ids
  security_group_ids    = [local.data.security_group_ids["state"]]
  data_volume_path      = module.env.state_environment["TETHER_DATA_DIR"]
  ephemeral_storage_gib = var.state.ephemeral_storage_gib
  task_policy_json      = data.aws_iam_policy_document.state_task.json
  sidecars              = [module.observability.sidecars["state"]]

  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
    server = {
      discovery_name = local.state_dns_name
      dns_name       = local.state_dns_name
    }
  }

  min_capacity  = var.state.min_capacity
  max_capacity  = var.state.max_capacity
  cpu_target    = var.state.cpu_target
  memory_target = var.state.memory_target
}

module "edge" {
  source = "../../../modules/ecs_service"

  name                  = local.edge_service_name
  container_name        = "tether-edge"
  cluster_arn           = aws_ecs_cluster.this.arn
  image                 = var.edge_image
  image_repository_arns = var.image_repository_arns
  cpu_architecture      = var.cpu_architecture
  cpu                   = var.edge.cpu
  memory                = var.edge.memory
  container_port        = local.edge_port
  environment           = module.env.edge_environment
  secrets               = module.env.edge_secrets
  kms_key_arn           = local.data.kms_key_arn
  log_retention_days    = var.log_retention_days
  subnet_ids            = local.data.private_subnet_ids
  security_group_ids    = [local.data.security_group_ids["edge"]]
  sidecars              = [module.observability.sidecars["edge"]]
  nofile_limit          = 1048576

  load_balancer = {
    target_group_arn     = module.edge_lb.target_group_arn
    deregistration_delay = module.edge_lb.deregistration_delay
  }

  # Client only: edges resolve tether-state through Service Connect.
  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
  }

  min_capacity = var.edge.min_capacity
  max_capacity = var.edge.max_capacity
  cpu_target   = var.edge.cpu_target
  custom_metric_target = {
    namespace    = module.observability.metric_namespace
    metric_name  = "tether_edge_connections_current"
    target_value = var.edge.connections_per_task
  }
}
