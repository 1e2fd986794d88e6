# The hot log: ElastiCache for Redis OSS, cluster mode disabled (Tether's Lua scripts touch keys of
# several streams), one primary and replicas in other zones with automatic failover.
#
# Durability. tether-state acknowledges an append once the primary has executed its Lua script
# (TETHER_REDIS_WAIT_REPLICAS=0), or additionally once that many replicas have it (`WAIT`).
# ElastiCache does not offer an append-only file on Redis 2.8.22 and later, nor on Multi-AZ
# groups, so `appendonly yes` / `appendfsync everysec` (what infra/docker/compose.yaml runs) cannot
# be set here: the parameter does not exist in the redis7 family. An acknowledged append survives
# the loss of the primary only if a replica had it: with WAIT_REPLICAS=0 a failover can lose the
# last moments of acknowledged appends (asynchronous replication), with WAIT_REPLICAS=1 it cannot
# unless both nodes fail. Production sets 1 (see docs/OPERATIONS.md). Sealed ranges are in S3
# regardless.

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Tether hot log ${var.name}"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.name}-redis7"
  family      = "redis7"
  description = "Tether hot log: never evict"
  tags        = var.tags

  # Evicting a stream's keys would silently drop unarchived chunks and idempotent-producer
  # state. With noeviction a full Redis refuses writes; tether-state answers 503 + Retry-After
  # and TETHER_REDIS_MAX_MEMORY_BYTES keeps it below that point.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "slow_log" {
  #checkov:skip=CKV_AWS_338:The slow log is a performance diagnostic, kept per environment (log_retention_days); it carries no audit information.
  name              = "/elasticache/${var.name}/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "Tether hot log"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [var.security_group_id]

  num_cache_clusters         = var.num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = var.auth_token
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = var.snapshot_window
  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = var.apply_immediately

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags

  lifecycle {
    # The hot log holds every acknowledged chunk that is not archived yet.
    prevent_destroy = true
    # The token is rotated outside Terraform (docs/OPERATIONS.md); the generator's new value on
    # every plan must not reset it.
    ignore_changes = [auth_token]
  }
}
