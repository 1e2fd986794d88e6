output "enabled" {
  description = "Whether the MSK cluster exists."
  value       = var.enabled
}

output "cluster_arn" {
  description = "ARN of the MSK cluster (null when disabled)."
  value       = one(aws_msk_cluster.this[*].arn)
}

output "bootstrap_brokers" {
  description = "SASL/SCRAM (TLS, port 9096) bootstrap brokers (TETHER_KAFKA_BROKERS); empty when disabled."
  value       = var.enabled ? aws_msk_cluster.this[0].bootstrap_brokers_sasl_scram : ""
}

output "security_protocol" {
  description = "librdkafka security.protocol of the clients (TETHER_KAFKA_SECURITY_PROTOCOL); null when disabled."
  value       = var.enabled ? "SASL_SSL" : null
}

output "sasl_mechanism" {
  description = "librdkafka sasl.mechanism of the clients (TETHER_KAFKA_SASL_MECHANISM); null when disabled."
  value       = var.enabled ? "SCRAM-SHA-512" : null
}

output "scram_username" {
  description = "SASL/SCRAM user of tether-state (TETHER_KAFKA_SASL_USERNAME); null when disabled."
  value       = var.enabled ? var.scram_username : null
}

output "scram_secret_arn" {
  description = "ARN of the SCRAM secret (JSON with username and password; TETHER_KAFKA_SASL_PASSWORD comes from its password key); null when disabled."
  value       = one(aws_secretsmanager_secret.scram[*].arn)
}

output "scram_secret_kms_key_arn" {
  description = "KMS key the SCRAM secret is encrypted with (whoever reads the secret must decrypt with it); null when disabled."
  value       = var.enabled ? var.kms_key_arn : null
}
