# Read by the app root (terraform_remote_state). No secret values: only ARNs.

output "region" {
  description = "Region of the environment."
  value       = var.region
}

output "environment" {
  description = "Environment name."
  value       = var.environment
}

output "vpc_id" {
  description = "VPC of the environment."
  value       = module.network.vpc_id
}

output "public_subnet_ids" {
  description = "Subnets of the load balancer."
  value       = module.network.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Subnets of the tasks."
  value       = module.network.private_subnet_ids
}

output "security_group_ids" {
  description = "Security group per component (alb, edge, state, redis, kafka)."
  value       = module.network.security_group_ids
}

output "kms_key_arn" {
  description = "The environment's KMS key."
  value       = module.kms.key_arn
}

output "archive_bucket_name" {
  description = "Archive bucket (TETHER_S3_BUCKET)."
  value       = module.archive_bucket.bucket_name
}

output "archive_prefix" {
  description = "Archive key prefix (TETHER_S3_PREFIX when not empty)."
  value       = module.archive_bucket.archive_prefix
}

output "archive_access_policy_json" {
  description = "IAM policy of the state service for the archive."
  value       = module.archive_bucket.state_access_policy_json
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint address."
  value       = module.redis.primary_endpoint
}

output "redis_url" {
  description = "TETHER_REDIS_URL (rediss://, no credentials)."
  value       = module.redis.url
}

output "redis_auth_secret_arn" {
  description = "Secret holding the Redis AUTH token (TETHER_REDIS_PASSWORD)."
  value       = module.secrets.redis_auth_secret_arn
}

output "jwt_secret_arn" {
  description = "Secret holding the edge's JWT key (TETHER_JWT_SECRET)."
  value       = module.secrets.jwt_secret_arn
}

output "kafka_enabled" {
  description = "Whether MSK exists."
  value       = module.kafka.enabled
}

output "kafka_bootstrap_brokers" {
  description = "TETHER_KAFKA_BROKERS: MSK's SASL/SCRAM brokers, port 9096 (empty without MSK)."
  value       = module.kafka.bootstrap_brokers
}

output "kafka_security_protocol" {
  description = "TETHER_KAFKA_SECURITY_PROTOCOL (SASL_SSL; null without MSK)."
  value       = module.kafka.security_protocol
}

output "kafka_sasl_mechanism" {
  description = "TETHER_KAFKA_SASL_MECHANISM (SCRAM-SHA-512; null without MSK)."
  value       = module.kafka.sasl_mechanism
}

output "kafka_sasl_username" {
  description = "TETHER_KAFKA_SASL_USERNAME, the SCRAM user of the state service (null without MSK)."
  value       = module.kafka.scram_username
}

output "kafka_scram_secret_arn" {
  description = "Secret holding the SCRAM credentials; TETHER_KAFKA_SASL_PASSWORD is its password key (null without MSK)."
  value       = module.kafka.scram_secret_arn
}

output "kafka_scram_secret_kms_key_arn" {
  description = "KMS key of the SCRAM secret, which the state service's execution role decrypts with (null without MSK)."
  value       = module.kafka.scram_secret_kms_key_arn
}
