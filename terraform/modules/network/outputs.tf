output "vpc_id" {
  description = "The VPC everything runs in."
  value       = var.vpc_id
}

output "public_subnet_ids" {
  description = "Subnets of the load balancer."
  value       = var.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Subnets of tasks, Redis and Kafka."
  value       = var.private_subnet_ids
}

output "security_group_ids" {
  description = "Security group per component: alb, edge, state, redis and (when enabled) kafka."
  value = merge(
    {
      alb   = aws_security_group.alb.id
      edge  = aws_security_group.edge.id
      state = aws_security_group.state.id
      redis = aws_security_group.redis.id
    },
    var.kafka_enabled ? { kafka = aws_security_group.kafka[0].id } : {},
  )
}

output "edge_port" {
  description = "Port of tether-edge inside its task."
  value       = var.edge_port
}

output "state_port" {
  description = "Port of tether-state inside its task."
  value       = var.state_port
}
