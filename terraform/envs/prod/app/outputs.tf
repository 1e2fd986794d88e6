output "alb_dns_name" {
  description = "DNS name of the load balancer (alias the public hostname to it)."
  value       = module.edge_lb.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias."
  value       = module.edge_lb.zone_id
}

output "wss_url" {
  description = "WebSocket URL of Tether."
  value       = module.edge_lb.wss_url
}

output "https_url" {
  description = "HTTPS URL of Tether."
  value       = module.edge_lb.https_url
}

output "state_internal_url" {
  description = "URL edges reach the state service at (Service Connect, inside the VPC only)."
  value       = module.env.edge_environment["TETHER_STATE_URL"]
}

output "redis_primary_endpoint" {
  description = "Redis primary endpoint (from the data root)."
  value       = local.data.redis_primary_endpoint
}

output "archive_bucket_name" {
  description = "Archive bucket (from the data root)."
  value       = local.data.archive_bucket_name
}

output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "edge_service_name" {
  description = "ECS service of the edges."
  value       = module.edge.service_name
}

output "state_service_name" {
  description = "ECS service of the state service."
  value       = module.state.service_name
}

output "alarm_names" {
  description = "CloudWatch alarms to route to the on-call rotation."
  value       = module.observability.alarm_names
}
