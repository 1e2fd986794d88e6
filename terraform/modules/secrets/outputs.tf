output "jwt_secret_arn" {
  description = "ARN of the edge's JWT key (TETHER_JWT_SECRET, container secret)."
  value       = aws_secretsmanager_secret.jwt.arn
}

output "redis_auth_secret_arn" {
  description = "ARN of the Redis AUTH token (TETHER_REDIS_PASSWORD, container secret)."
  value       = aws_secretsmanager_secret.redis_auth.arn
}

output "redis_auth_token" {
  description = "The initial Redis AUTH token, for the replication group created in the same root."
  value       = aws_secretsmanager_secret_version.redis_auth.secret_string
  sensitive   = true
}
