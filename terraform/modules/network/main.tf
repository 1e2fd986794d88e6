# Security groups of every Tether component and the only paths between them:
#
#   clients --80/443--> alb --edge_port--> edge --state_port--> state --6379--> redis
#                                                                     --9096--> kafka (optional)
#
# Redis and Kafka accept connections from the state service's group only; nothing here opens a
# data store to an address range.

locals {
  redis_port = 6379
  # MSK's SASL/SCRAM listener (TLS); the state service signs in with its SCRAM secret.
  kafka_scram_port = 9096
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (load balancer, ECS services in the app root, ElastiCache, MSK), which a per-module scan cannot see.
  name        = "${var.name}-alb"
  description = "Tether public load balancer: HTTPS (and the HTTP redirect) in, edge tasks out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS and WSS from clients"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only serves the listener that redirects to HTTPS (edge_lb module); no content is served over plain HTTP.
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, answered with a redirect to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_edge" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to edge tasks"
  referenced_security_group_id = aws_security_group.edge.id
  ip_protocol                  = "tcp"
  from_port                    = var.edge_port
  to_port                      = var.edge_port
}

resource "aws_security_group" "edge" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (load balancer, ECS services in the app root, ElastiCache, MSK), which a per-module scan cannot see.
  name        = "${var.name}-edge"
  description = "tether-edge tasks: load balancer in, state service and AWS APIs out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "edge_from_alb" {
  security_group_id            = aws_security_group.edge.id
  description                  = "Client connections forwarded by the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.edge_port
  to_port                      = var.edge_port
}

resource "aws_vpc_security_group_egress_rule" "edge_to_state" {
  security_group_id            = aws_security_group.edge.id
  description                  = "Edge to the state service (Service Connect)"
  referenced_security_group_id = aws_security_group.state.id
  ip_protocol                  = "tcp"
  from_port                    = var.state_port
  to_port                      = var.state_port
}

resource "aws_vpc_security_group_egress_rule" "edge_https" {
  for_each = toset(var.egress_https_cidrs)

  security_group_id = aws_security_group.edge.id
  description       = "AWS APIs: ECR, Secrets Manager, CloudWatch"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "state" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (load balancer, ECS services in the app root, ElastiCache, MSK), which a per-module scan cannot see.
  name        = "${var.name}-state"
  description = "tether-state tasks: edges in; Redis, Kafka and AWS APIs out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-state" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "state_from_edge" {
  security_group_id            = aws_security_group.state.id
  description                  = "Edge workers (Service Connect)"
  referenced_security_group_id = aws_security_group.edge.id
  ip_protocol                  = "tcp"
  from_port                    = var.state_port
  to_port                      = var.state_port
}

resource "aws_vpc_security_group_egress_rule" "state_to_redis" {
  security_group_id            = aws_security_group.state.id
  description                  = "Hot log on ElastiCache (TLS)"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = local.redis_port
  to_port                      = local.redis_port
}

resource "aws_vpc_security_group_egress_rule" "state_to_kafka" {
  count = var.kafka_enabled ? 1 : 0

  security_group_id            = aws_security_group.state.id
  description                  = "Kafka ingest and events on MSK (SASL/SCRAM over TLS)"
  referenced_security_group_id = aws_security_group.kafka[0].id
  ip_protocol                  = "tcp"
  from_port                    = local.kafka_scram_port
  to_port                      = local.kafka_scram_port
}

resource "aws_vpc_security_group_egress_rule" "state_https" {
  for_each = toset(var.egress_https_cidrs)

  security_group_id = aws_security_group.state.id
  description       = "AWS APIs: S3 archive, ECR, Secrets Manager, CloudWatch"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "redis" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (load balancer, ECS services in the app root, ElastiCache, MSK), which a per-module scan cannot see.
  name        = "${var.name}-redis"
  description = "ElastiCache hot log: the state service only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_state" {
  security_group_id            = aws_security_group.redis.id
  description                  = "tether-state tasks"
  referenced_security_group_id = aws_security_group.state.id
  ip_protocol                  = "tcp"
  from_port                    = local.redis_port
  to_port                      = local.redis_port
}

resource "aws_security_group" "kafka" {
  #checkov:skip=CKV2_AWS_5:Attached outside this module (load balancer, ECS services in the app root, ElastiCache, MSK), which a per-module scan cannot see.
  count = var.kafka_enabled ? 1 : 0

  name        = "${var.name}-kafka"
  description = "MSK brokers: the state service only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-kafka" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "kafka_from_state" {
  count = var.kafka_enabled ? 1 : 0

  security_group_id            = aws_security_group.kafka[0].id
  description                  = "tether-state tasks (SASL/SCRAM over TLS)"
  referenced_security_group_id = aws_security_group.state.id
  ip_protocol                  = "tcp"
  from_port                    = local.kafka_scram_port
  to_port                      = local.kafka_scram_port
}
