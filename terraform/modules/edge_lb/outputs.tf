output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer (point the public hostname here)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "Target group the edge service registers its tasks in."
  value       = aws_lb_target_group.edge.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.edge.arn_suffix
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "deregistration_delay" {
  description = "The edge's drain window in seconds (compared with the container stopTimeout)."
  value       = var.deregistration_delay
}

output "wss_url" {
  description = "WebSocket base URL clients connect to."
  value       = "wss://${coalesce(var.domain_name, aws_lb.this.dns_name)}"
}

output "https_url" {
  description = "HTTPS base URL (SSE, long-poll, HTTP API)."
  value       = "https://${coalesce(var.domain_name, aws_lb.this.dns_name)}"
}
