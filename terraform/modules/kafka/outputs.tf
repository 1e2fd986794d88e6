output "enabled" {
  description = "Whether the MSK cluster exists."
  value       = var.enabled
}

output "cluster_arn" {
  description = "ARN of the MSK cluster (null when disabled)."
  value       = one(aws_msk_cluster.this[*].arn)
}

output "bootstrap_brokers" {
  description = "SASL/IAM bootstrap brokers (TETHER_KAFKA_BROKERS); empty when disabled."
  value       = var.enabled ? aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam : ""
}

output "consumer_policy_json" {
  description = "IAM policy tether-state needs to consume from the cluster (null when disabled)."
  value       = one(data.aws_iam_policy_document.consumer[*].json)
}
