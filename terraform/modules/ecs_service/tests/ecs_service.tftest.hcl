# The generic Fargate service: secrets only as Secrets Manager references, a read-only container
# that drains within stopTimeout, separate least-privilege roles, and autoscaling suited to
# long-lived connections.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
}

variables {
  name           = "tether-test-edge"
  container_name = "tether-edge"
  cluster_arn    = "arn:aws:ecs:eu-west-1:123456789012:cluster/tether-test"
  image          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tether-edge:0.1.0"
  container_port = 8080
  environment = {
    TETHER_LISTEN     = "0.0.0.0:8080"
    TETHER_STATE_URL  = "http://tether-state:4437"
    TETHER_LOG_FORMAT = "json"
  }
  secrets = {
    TETHER_JWT_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/test/jwt-secret-AbCdEf"
  }
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  subnet_ids         = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  security_group_ids = ["sg-0123456789abcdef0"]
  load_balancer = {
    target_group_arn     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tether-test/0123456789abcdef"
    deregistration_delay = 90
  }
  custom_metric_target = {
    namespace    = "Tether"
    metric_name  = "tether_edge_connections_current"
    target_value = 5000
  }
}

run "secrets_are_references_never_plain_environment" {
  command = plan

  assert {
    condition     = one([for c in output.container_definitions : c if c.name == "tether-edge"]).secrets == [{ name = "TETHER_JWT_SECRET", valueFrom = var.secrets.TETHER_JWT_SECRET }]
    error_message = "The JWT key must be a Secrets Manager reference (valueFrom)"
  }
  assert {
    condition = alltrue(flatten([
      for c in output.container_definitions : [
        for e in c.environment : !contains(["TETHER_JWT_SECRET", "TETHER_REDIS_PASSWORD"], e.name) && !startswith(e.value, "arn:aws:secretsmanager")
      ]
    ]))
    error_message = "No secret (or secret reference) may appear in plain environment"
  }
}

run "container_is_read_only_and_drains_within_stop_timeout" {
  command = plan

  assert {
    condition     = alltrue([for c in output.container_definitions : c.readonlyRootFilesystem])
    error_message = "Every container has a read-only root filesystem"
  }
  assert {
    condition     = one([for c in output.container_definitions : c if c.name == "tether-edge"]).stopTimeout == 120
    error_message = "stopTimeout defaults to Fargate's maximum, 120 s"
  }
  assert {
    condition     = one([for c in output.container_definitions : c if c.name == "tether-edge"]).stopTimeout >= var.load_balancer.deregistration_delay
    error_message = "stopTimeout must cover the drain window"
  }
  assert {
    condition     = one([for c in output.container_definitions : c if c.name == "tether-edge"]).ulimits[0].softLimit == 65536
    error_message = "Edges need many file descriptors"
  }
  assert {
    condition     = strcontains(one([for c in output.container_definitions : c if c.name == "tether-edge"]).healthCheck.command[3], "GET /healthz")
    error_message = "The container health check requests /healthz"
  }
  assert {
    condition     = aws_ecs_service.this.network_configuration[0].assign_public_ip == false && aws_ecs_service.this.launch_type == "FARGATE"
    error_message = "Tasks run on Fargate without public IPs"
  }
  assert {
    condition     = one(aws_ecs_service.this.deployment_circuit_breaker).rollback
    error_message = "Failed deployments roll back"
  }
}

run "separate_roles" {
  command = plan

  assert {
    condition     = aws_iam_role.task.name == "tether-test-edge-task" && aws_iam_role.execution.name == "tether-test-edge-exec"
    error_message = "Each service has its own task and execution role"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.execution.statement :
      contains(s.actions, "secretsmanager:GetSecretValue") && s.resources == toset([var.secrets.TETHER_JWT_SECRET])
    ])
    error_message = "The execution role reads exactly this service's secrets"
  }
}

# A secret addressed by JSON key (ARN:key::, as tether-state's Kafka password) is granted as the
# secret itself; a secret under another key adds that key to the decrypt grant, nothing more.
run "secret_json_keys_and_their_kms_keys" {
  command = plan

  variables {
    secrets = {
      TETHER_JWT_SECRET          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/test/jwt-secret-AbCdEf"
      TETHER_KAFKA_SASL_PASSWORD = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf:password::"
    }
    secrets_kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/11111111-1111-1111-1111-111111111111"]
  }

  assert {
    condition     = one([for c in output.container_definitions : c if c.name == "tether-edge"]).secrets[0] == { name = "TETHER_JWT_SECRET", valueFrom = var.secrets.TETHER_JWT_SECRET } && one([for c in output.container_definitions : c if c.name == "tether-edge"]).secrets[1] == { name = "TETHER_KAFKA_SASL_PASSWORD", valueFrom = var.secrets.TETHER_KAFKA_SASL_PASSWORD }
    error_message = "Secrets keep their JSON key in valueFrom"
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.execution.statement :
      s.resources == toset([
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tether/test/jwt-secret-AbCdEf",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_tether-test/tether-state-AbCdEf",
      ]) if s.sid == "OwnSecrets"
    ])
    error_message = "The execution role reads exactly these secrets (the JSON key is not part of the resource)"
  }
  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.execution.statement :
      s.actions == toset(["kms:Decrypt"]) && s.resources == toset([var.kms_key_arn, var.secrets_kms_key_arns[0]]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["secretsmanager.eu-west-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com"])])
      if s.sid == "DecryptSecrets"
    ]) && length([for s in data.aws_iam_policy_document.execution.statement : s if s.sid == "DecryptSecrets"]) == 1
    error_message = "The execution role decrypts with the secrets' keys only, and only through Secrets Manager or SSM"
  }
}

run "rejects_kms_alias_for_secret_keys" {
  command = plan
  variables {
    secrets_kms_key_arns = ["alias/aws/secretsmanager"]
  }
  expect_failures = [var.secrets_kms_key_arns]
}

run "autoscaling_on_cpu_and_connections" {
  command = plan

  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 2 && aws_appautoscaling_target.this.max_capacity == 10
    error_message = "Default capacity 2-10"
  }
  assert {
    condition     = one(aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration).scale_in_cooldown == 600 && one(aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration).scale_out_cooldown == 60
    error_message = "Scale in slowly (600 s), out quickly (60 s)"
  }
  assert {
    condition     = one(one(aws_appautoscaling_policy.custom[0].target_tracking_scaling_policy_configuration).customized_metric_specification).metric_name == "tether_edge_connections_current"
    error_message = "Edges scale on their per-task connection count"
  }
  assert {
    condition     = one(one(aws_appautoscaling_policy.custom[0].target_tracking_scaling_policy_configuration).customized_metric_specification).statistic == "Average"
    error_message = "The connection metric is averaged over the tasks"
  }
  assert {
    condition     = length(aws_appautoscaling_policy.memory) == 0
    error_message = "No memory policy unless asked"
  }
}

run "internal_service_with_data_volume_and_sidecar" {
  command = plan

  variables {
    name                 = "tether-test-state"
    container_name       = "tether-state"
    container_port       = 4437
    environment          = { TETHER_DATA_DIR = "/var/lib/tether" }
    secrets              = {}
    load_balancer        = null
    custom_metric_target = null
    memory_target        = 70
    data_volume_path     = "/var/lib/tether"
    service_connect = {
      namespace_arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-0123456789abcdef"
      server        = { discovery_name = "tether-state", dns_name = "tether-state" }
    }
    sidecars = [{
      name         = "collector"
      image        = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
      cpu          = 128
      memory       = 256
      environment  = { AOT_CONFIG_CONTENT = "receivers: {}" }
      scratch_path = "/tmp"
    }]
  }

  assert {
    condition     = length(aws_ecs_service.this.load_balancer) == 0 && one(one(aws_ecs_service.this.service_connect_configuration).service).discovery_name == "tether-state"
    error_message = "The state service is internal, reachable through Service Connect"
  }
  assert {
    condition     = length(aws_appautoscaling_policy.memory) == 1 && length(aws_appautoscaling_policy.custom) == 0
    error_message = "The state service scales on CPU and memory"
  }
  assert {
    condition     = length(output.container_definitions) == 2 && !one([for c in output.container_definitions : c if c.name == "collector"]).essential
    error_message = "The collector sidecar is non-essential"
  }
  assert {
    condition     = toset([for v in aws_ecs_task_definition.this.volume : v.name]) == toset(["data", "collector-scratch"])
    error_message = "The data directory and the collector's scratch are the only writable volumes"
  }
}

run "rejects_non_fargate_cpu" {
  command = plan
  variables {
    cpu = 1000
  }
  expect_failures = [var.cpu]
}

run "rejects_memory_outside_cpu_range" {
  command = plan
  variables {
    cpu    = 1024
    memory = 512
  }
  expect_failures = [var.memory]
}

run "rejects_secret_in_plain_environment" {
  command = plan
  variables {
    environment = { TETHER_JWT_SECRET = "hunter2" }
    secrets     = {}
  }
  expect_failures = [var.environment]
}

run "rejects_secret_value_instead_of_arn" {
  command = plan
  variables {
    secrets = { TETHER_JWT_SECRET = "hunter2" }
  }
  expect_failures = [var.secrets]
}

run "rejects_variable_in_both_environment_and_secrets" {
  command = plan
  variables {
    environment = { TETHER_STATE_URL = "http://tether-state:4437" }
    secrets     = { TETHER_STATE_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf" }
  }
  expect_failures = [var.secrets]
}

run "rejects_bad_target_group_arn" {
  command = plan
  variables {
    load_balancer = { target_group_arn = "tether-test", deregistration_delay = 90 }
  }
  expect_failures = [var.load_balancer]
}

run "rejects_stop_timeout_above_fargate_max" {
  command = plan
  variables {
    stop_timeout = 300
  }
  expect_failures = [var.stop_timeout]
}

run "rejects_stop_timeout_shorter_than_drain" {
  command = plan
  variables {
    stop_timeout  = 60
    load_balancer = { target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tether-test/0123456789abcdef", deregistration_delay = 90 }
  }
  expect_failures = [var.stop_timeout]
}

run "rejects_max_below_min" {
  command = plan
  variables {
    min_capacity = 4
    max_capacity = 2
  }
  expect_failures = [var.max_capacity]
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad name
    name = "Tether"
    # rejects bad container name
    container_name = "tether edge"
    # rejects bad cluster arn
    cluster_arn = "tether-test"
    # rejects latest image
    image = "tether-edge:latest"
    # rejects bad repository arn
    image_repository_arns = ["tether-edge"]
    # rejects unknown architecture
    cpu_architecture = "arm"
    # rejects privileged port
    container_port = 80
    # rejects bad kms key arn
    kms_key_arn = "alias/tether"
    # rejects unsupported log retention
    log_retention_days = 10
    # rejects single subnet
    subnet_ids = ["subnet-0000000000000000c"]
    # rejects no security group
    security_group_ids = []
    # rejects long grace period
    health_check_grace_period_seconds = 9000
    # rejects bad namespace arn
    service_connect = { namespace_arn = "tether.internal" }
    # rejects huge nofile
    nofile_limit = 2000000
    # rejects relative data volume
    data_volume_path = "data"
    # rejects small ephemeral storage
    ephemeral_storage_gib = 10
    # rejects bad health path
    health_check_path = "healthz; rm -rf /"
    # rejects non json task policy
    task_policy_json = "s3:*"
    # rejects bad sidecar
    sidecars = [{ name = "bad name", image = "x:1", cpu = 0, memory = 128, environment = {} }]
    # rejects zero min capacity
    min_capacity = 0
    # rejects cpu target too high
    cpu_target = 99
    # rejects memory target too high
    memory_target = 100
    # rejects non positive custom target
    custom_metric_target = { namespace = "Tether", metric_name = "tether_edge_connections_current", target_value = 0 }
    # rejects long scale in cooldown
    scale_in_cooldown = 7200
    # rejects negative scale out cooldown
    scale_out_cooldown = -1
  }

  expect_failures = [
    var.name,
    var.container_name,
    var.cluster_arn,
    var.image,
    var.image_repository_arns,
    var.cpu_architecture,
    var.container_port,
    var.kms_key_arn,
    var.log_retention_days,
    var.subnet_ids,
    var.security_group_ids,
    var.health_check_grace_period_seconds,
    var.service_connect,
    var.nofile_limit,
    var.data_volume_path,
    var.ephemeral_storage_gib,
    var.health_check_path,
    var.task_policy_json,
    var.sidecars,
    var.min_capacity,
    var.cpu_target,
    var.memory_target,
    var.custom_metric_target,
    var.scale_in_cooldown,
    var.scale_out_cooldown,
  ]
}
