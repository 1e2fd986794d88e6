# One ECS Fargate service: task definition (read-only application container plus optional
# sidecars), its own task and execution roles (iam.tf), log group, and autoscaling
# (autoscaling.tf). Used for both tether-edge and tether-state.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  region       = data.aws_region.current.name
  cluster_name = element(split("/", var.cluster_arn), 1)

  log_options = {
    awslogs-group  = aws_cloudwatch_log_group.this.name
    awslogs-region = local.region
    # A slow log pipeline must never block the application's stdout/stderr.
    mode            = "non-blocking"
    max-buffer-size = "4m"
  }

  # The runtime image has bash but no curl: /dev/tcp is enough for a liveness probe.
  health_check_script = join(" && ", [
    "exec 3<>/dev/tcp/127.0.0.1/${var.container_port}",
    "printf 'GET ${var.health_check_path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3",
    "head -n 1 <&3 | grep -q ' 200 '",
  ])

  app_container = {
    name      = var.container_name
    image     = var.image
    essential = true
    portMappings = [{
      # Service Connect refers to the port by this name. No appProtocol: Service Connect proxies
      # TCP, so long-polls and SSE responses get no per-request timeout.
      name          = "http"
      containerPort = var.container_port
      protocol      = "tcp"
    }]
    environment            = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
    secrets                = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    readonlyRootFilesystem = true
    stopTimeout            = var.stop_timeout
    linuxParameters        = { initProcessEnabled = true }
    ulimits                = [{ name = "nofile", softLimit = var.nofile_limit, hardLimit = var.nofile_limit }]
    mountPoints = var.data_volume_path == null ? [] : [{
      sourceVolume  = "data"
      containerPath = var.data_volume_path
      readOnly      = false
    }]
    healthCheck = {
      command     = ["CMD", "/bin/bash", "-c", local.health_check_script]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options   = merge(local.log_options, { awslogs-stream-prefix = var.container_name })
    }
  }

  sidecar_containers = [for s in var.sidecars : {
    name                   = s.name
    image                  = s.image
    essential              = false
    cpu                    = s.cpu
    memory                 = s.memory
    environment            = [for k in sort(keys(s.environment)) : { name = k, value = s.environment[k] }]
    readonlyRootFilesystem = true
    mountPoints = s.scratch_path == null ? [] : [{
      sourceVolume  = "${s.name}-scratch"
      containerPath = s.scratch_path
      readOnly      = false
    }]
    logConfiguration = {
      logDriver = "awslogs"
      options   = merge(local.log_options, { awslogs-stream-prefix = s.name })
    }
  }]

  volumes = concat(
    var.data_volume_path == null ? [] : ["data"],
    [for s in var.sidecars : "${s.name}-scratch" if s.scratch_path != null],
  )
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is chosen per environment (log_retention_days); these are operational logs, audit trails live in CloudTrail.
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode(concat([local.app_container], local.sidecar_containers))
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  dynamic "ephemeral_storage" {
    for_each = var.ephemeral_storage_gib == null ? [] : [var.ephemeral_storage_gib]
    content {
      size_in_gib = ephemeral_storage.value
    }
  }

  # Task-local bind mounts on Fargate's ephemeral storage: the only writable paths.
  dynamic "volume" {
    for_each = local.volumes
    content {
      name = volume.value
    }
  }
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.load_balancer == null ? null : var.health_check_grace_period_seconds
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false
  tags                               = var.tags

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "load_balancer" {
    for_each = var.load_balancer == null ? [] : [var.load_balancer]
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = var.container_name
      container_port   = var.container_port
    }
  }

  dynamic "service_connect_configuration" {
    for_each = var.service_connect == null ? [] : [var.service_connect]
    content {
      enabled   = true
      namespace = service_connect_configuration.value.namespace_arn

      log_configuration {
        log_driver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "service-connect"
        }
      }

      dynamic "service" {
        for_each = service_connect_configuration.value.server == null ? [] : [service_connect_configuration.value.server]
        content {
          port_name      = "http"
          discovery_name = service.value.discovery_name

          client_alias {
            port     = var.container_port
            dns_name = service.value.dns_name
          }

          # Edge-to-state connections carry SSE and long-polls: keep quiet ones for an hour.
          timeout {
            idle_timeout_seconds = 3600
          }
        }
      }
    }
  }

  lifecycle {
    # Autoscaling owns the task count after creation.
    ignore_changes = [desired_count]
  }
}
