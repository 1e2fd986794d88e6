# Data root of one environment: everything that holds state or secrets and outlives
# deployments (KMS key, archive bucket, Redis, secrets, optional MSK) plus the security groups
# that guard it. Stateful resources carry prevent_destroy inside their modules. The app root
# reads this root's outputs through terraform_remote_state.

data "aws_caller_identity" "current" {}

locals {
  name          = "tether-${var.environment}"
  bucket_name   = coalesce(var.archive_bucket_name, "${local.name}-archive-${data.aws_caller_identity.current.account_id}")
  kafka_subnets = slice(var.private_subnet_ids, 0, min(3, length(var.private_subnet_ids)))
}

module "network" {
  source = "../../../modules/network"

  name               = local.name
  vpc_id             = var.vpc_id
  public_subnet_ids  = var.public_subnet_ids
  private_subnet_ids = var.private_subnet_ids
  alb_ingress_cidrs  = var.alb_ingress_cidrs
  kafka_enabled      = var.kafka_enabled
}

module "kms" {
  source = "../../../modules/kms"

  name                    = local.name
  deletion_window_in_days = var.kms_deletion_window_in_days
}

module "archive_bucket" {
  source = "../../../modules/archive_bucket"

  bucket_name            = local.bucket_name
  kms_key_arn            = module.kms.key_arn
  archive_retention_days = var.archive_retention_days
}

module "secrets" {
  source = "../../../modules/secrets"

  name_prefix             = "tether/${var.environment}"
  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days
}

module "redis" {
  source = "../../../modules/redis"

  name                    = local.name
  subnet_ids              = var.private_subnet_ids
  security_group_id       = module.network.security_group_ids["redis"]
  kms_key_arn             = module.kms.key_arn
  auth_token              = module.secrets.redis_auth_token
  node_type               = var.redis_node_type
  num_cache_clusters      = var.redis_num_cache_clusters
  snapshot_retention_days = var.redis_snapshot_retention_days
  log_retention_days      = var.log_retention_days
}

module "kafka" {
  source = "../../../modules/kafka"

  enabled            = var.kafka_enabled
  name               = local.name
  subnet_ids         = local.kafka_subnets
  security_group_id  = lookup(module.network.security_group_ids, "kafka", null)
  kms_key_arn        = module.kms.key_arn
  broker_count       = coalesce(var.kafka_broker_count, length(local.kafka_subnets))
  instance_type      = var.kafka_instance_type
  log_retention_days = var.log_retention_days

  secret_recovery_window_in_days = var.secret_recovery_window_in_days
}
