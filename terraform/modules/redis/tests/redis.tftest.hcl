# The hot log is encrypted in transit and at rest with the customer key, Multi-AZ with automatic
# failover, password-protected, snapshotted and never evicts.

mock_provider "aws" {}

# The replication group is protected by prevent_destroy, so every run stays at plan.
override_resource {
  target          = aws_elasticache_replication_group.this
  override_during = plan
  values = {
    primary_endpoint_address = "master.tether-test.abc123.euw1.cache.amazonaws.com"
  }
}

variables {
  name              = "tether-test"
  subnet_ids        = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  security_group_id = "sg-0123456789abcdef0"
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  auth_token        = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefghij"
}

run "redis_is_encrypted_and_highly_available" {
  command = plan

  assert {
    condition     = tostring(aws_elasticache_replication_group.this.at_rest_encryption_enabled) == "true" && aws_elasticache_replication_group.this.kms_key_id == var.kms_key_arn
    error_message = "Encryption at rest with the customer key is required"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.transit_encryption_enabled && aws_elasticache_replication_group.this.transit_encryption_mode == "required"
    error_message = "TLS in transit is required"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.automatic_failover_enabled && aws_elasticache_replication_group.this.multi_az_enabled
    error_message = "Multi-AZ with automatic failover is required"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.num_cache_clusters >= 2
    error_message = "At least one replica is required"
  }
  assert {
    condition     = nonsensitive(aws_elasticache_replication_group.this.auth_token != null)
    error_message = "An AUTH token is required"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.snapshot_retention_limit >= 1
    error_message = "Snapshots must be kept"
  }
  assert {
    condition     = aws_elasticache_replication_group.this.security_group_ids == toset([var.security_group_id])
    error_message = "Only the given security group (ingress from the state service) may guard Redis"
  }
  assert {
    condition     = output.url == "rediss://master.tether-test.abc123.euw1.cache.amazonaws.com:6379"
    error_message = "The URL must use TLS (rediss://) and carry no password"
  }
}

run "redis_never_evicts" {
  command = plan

  assert {
    condition     = anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "maxmemory-policy" && p.value == "noeviction"])
    error_message = "maxmemory-policy must be noeviction: evicting keys would drop unarchived chunks"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad name
    name = "Tether_Test"
    # rejects single subnet
    subnet_ids = ["subnet-0000000000000000c"]
    # rejects bad security group
    security_group_id = "0.0.0.0/0"
    # rejects bad kms key arn
    kms_key_arn = "alias/aws/elasticache"
    # rejects short auth token
    auth_token = "short"
    # rejects t2 node
    node_type = "cache.t2.micro"
    # rejects redis 6
    engine_version = "6.2"
    # rejects single node
    num_cache_clusters = 1
    # rejects disabled snapshots
    snapshot_retention_days = 0
    # rejects bad snapshot window
    snapshot_window = "3am"
    # rejects bad maintenance window
    maintenance_window = "sunday"
    # rejects unsupported log retention
    log_retention_days = 10
  }

  expect_failures = [
    var.name,
    var.subnet_ids,
    var.security_group_id,
    var.kms_key_arn,
    var.auth_token,
    var.node_type,
    var.engine_version,
    var.num_cache_clusters,
    var.snapshot_retention_days,
    var.snapshot_window,
    var.maintenance_window,
    var.log_retention_days,
  ]
}
