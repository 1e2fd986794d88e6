variable "name" {
  description = "ECS service name; also names the task family, roles and log group (e.g. tether-prod-edge)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,46}[a-z0-9]$", var.name))
    error_message = "name must be 3-48 lowercase letters, digits or dashes, starting with a letter (room for the role suffixes)."
  }
}

variable "container_name" {
  description = "Name of the application container (tether-edge or tether-state)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$", var.container_name))
    error_message = "container_name must be letters, digits, '_' or '-'."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\\d{12}:cluster/[A-Za-z0-9_-]+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN."
  }
}

variable "image" {
  description = "Container image, pinned by tag or digest (never :latest, so a deployment is reproducible and rollbacks are real)."
  type        = string

  validation {
    condition     = can(regex("^[^\\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must carry an explicit tag other than latest, or a sha256 digest."
  }
}

variable "image_repository_arns" {
  description = "ECR repositories the execution role may pull from; empty for public images."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.image_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:\\d{12}:repository/.+$", a))])
    error_message = "image_repository_arns must hold ECR repository ARNs."
  }
}

variable "cpu" {
  description = "Task CPU units (Fargate sizes: 256, 512, 1024, 2048, 4096, 8192, 16384), sidecars included."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB, sidecars included; must fit the Fargate range of the chosen cpu."
  type        = number
  default     = 2048

  validation {
    condition = (
      var.cpu == 256 ? contains([512, 1024, 2048], var.memory) :
      var.cpu == 512 ? var.memory >= 1024 && var.memory <= 4096 && var.memory % 1024 == 0 :
      var.cpu == 1024 ? var.memory >= 2048 && var.memory <= 8192 && var.memory % 1024 == 0 :
      var.cpu == 2048 ? var.memory >= 4096 && var.memory <= 16384 && var.memory % 1024 == 0 :
      var.cpu == 4096 ? var.memory >= 8192 && var.memory <= 30720 && var.memory % 1024 == 0 :
      var.cpu == 8192 ? var.memory >= 16384 && var.memory <= 61440 && var.memory % 4096 == 0 :
      var.memory >= 32768 && var.memory <= 122880 && var.memory % 8192 == 0
    )
    error_message = "memory does not fit the Fargate range of the chosen cpu (e.g. 1024 CPU: 2048-8192 MiB in 1024 steps)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "container_port" {
  description = "Port the application listens on (its TETHER_LISTEN)."
  type        = number

  validation {
    condition     = var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be an unprivileged port (1024-65535): the image runs as a non-root user."
  }
}

variable "environment" {
  description = "Plain environment variables. Never secrets: those go in `secrets`."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|CREDENTIALS?)$", upper(k)))])
    error_message = "environment holds a variable whose name says it is a secret: pass it in `secrets` (Secrets Manager ARN) instead."
  }
}

variable "secrets" {
  description = "Secret environment variables: name -> Secrets Manager (or SSM parameter) ARN, resolved by ECS at task start."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:\\d{12}:(secret:|parameter/).+$", v))])
    error_message = "secrets values must be Secrets Manager secret or SSM parameter ARNs, never the secret itself."
  }

  validation {
    condition     = length(setintersection(keys(var.secrets), keys(var.environment))) == 0
    error_message = "A variable cannot be both in environment and in secrets."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed key of the log group and of the secrets (the execution role may decrypt with it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key."
  }
}

variable "secrets_kms_key_arns" {
  description = "Other customer-managed keys some of `secrets` are encrypted with (e.g. MSK's SCRAM secret); the execution role may decrypt with these and kms_key_arn, through Secrets Manager and SSM only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", k))])
    error_message = "secrets_kms_key_arns must hold KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID), not aliases."
  }
}

variable "log_retention_days" {
  description = "Retention of the service's log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the tasks (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs at least two subnet ids (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the tasks (the network module's group of this service)."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) >= 1 && alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "security_group_ids needs at least one sg-... id."
  }
}

variable "load_balancer" {
  description = "Target group the tasks register in and its deregistration delay (the drain window); null for an internal service."
  type = object({
    target_group_arn     = string
    deregistration_delay = number
  })
  default = null

  validation {
    condition     = var.load_balancer == null || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:.+:targetgroup/.+$", var.load_balancer.target_group_arn))
    error_message = "load_balancer.target_group_arn must be a target group ARN."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds a new task may fail load-balancer health checks while it starts (with a load balancer only)."
  type        = number
  default     = 60

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 7200
    error_message = "health_check_grace_period_seconds must be between 0 and 7200."
  }
}

variable "service_connect" {
  description = "ECS Service Connect: the namespace, and for a server (the state service) the discovery name and the DNS name clients use. null disables Service Connect."
  type = object({
    namespace_arn = string
    server = optional(object({
      discovery_name = string
      dns_name       = string
    }))
  })
  default = null

  validation {
    condition     = var.service_connect == null || can(regex("^arn:aws[a-z-]*:servicediscovery:", var.service_connect.namespace_arn))
    error_message = "service_connect.namespace_arn must be a Cloud Map namespace ARN."
  }
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL (the container's drain and grace). 120 is Fargate's maximum; it must cover the load balancer's drain window."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds (Fargate's limits)."
  }

  validation {
    condition     = var.load_balancer == null || var.stop_timeout >= try(var.load_balancer.deregistration_delay, 0)
    error_message = "stop_timeout must be at least the load balancer's deregistration delay (the drain window)."
  }
}

variable "nofile_limit" {
  description = "Open-file limit of the application container: every WebSocket is a file descriptor."
  type        = number
  default     = 65536

  validation {
    condition     = var.nofile_limit >= 1024 && var.nofile_limit <= 1048576
    error_message = "nofile_limit must be between 1024 and 1048576 (Fargate's maximum)."
  }
}

variable "data_volume_path" {
  description = "Writable task-local directory mounted into the otherwise read-only container (tether-state's TETHER_DATA_DIR); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.data_volume_path == null || startswith(coalesce(var.data_volume_path, "/"), "/")
    error_message = "data_volume_path must be an absolute path."
  }
}

variable "ephemeral_storage_gib" {
  description = "Task ephemeral storage in GiB (21-200; null: Fargate's 20 GiB default). Holds the data volume, e.g. the segment cache's disk tier."
  type        = number
  default     = null

  validation {
    condition     = var.ephemeral_storage_gib == null || (coalesce(var.ephemeral_storage_gib, 21) >= 21 && coalesce(var.ephemeral_storage_gib, 21) <= 200)
    error_message = "ephemeral_storage_gib must be between 21 and 200, or null."
  }
}

variable "health_check_path" {
  description = "Liveness path the container health check requests (the image has bash, no curl)."
  type        = string
  default     = "/healthz"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.health_check_path))
    error_message = "health_check_path must be an absolute URL path."
  }
}

variable "task_policy_json" {
  description = "IAM policy of the application (task role), e.g. the archive bucket access of tether-state; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.task_policy_json == null || can(jsondecode(var.task_policy_json))
    error_message = "task_policy_json must be a JSON policy document or null."
  }
}

variable "sidecars" {
  description = "Non-essential sidecar containers (e.g. the metrics collector from the observability module). Logs go to this service's log group."
  type = list(object({
    name         = string
    image        = string
    cpu          = number
    memory       = number
    environment  = map(string)
    scratch_path = optional(string)
    policy_json  = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.sidecars : can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]*$", s.name)) && s.cpu >= 0 && s.memory >= 6])
    error_message = "Each sidecar needs a container name of letters, digits, '_' or '-', cpu >= 0 and memory >= 6 MiB."
  }
}

variable "min_capacity" {
  description = "Fewest tasks autoscaling keeps (also the initial desired count)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number >= 1."
  }
}

variable "max_capacity" {
  description = "Most tasks autoscaling may run."
  type        = number
  default     = 10

  validation {
    condition     = var.max_capacity >= var.min_capacity && var.max_capacity <= 1000 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between min_capacity and 1000."
  }
}

variable "cpu_target" {
  description = "Average CPU utilisation (percent) target tracking keeps."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target >= 10 && var.cpu_target <= 90
    error_message = "cpu_target must be between 10 and 90 percent."
  }
}

variable "memory_target" {
  description = "Average memory utilisation (percent) target tracking keeps; null: do not scale on memory."
  type        = number
  default     = null

  validation {
    condition     = var.memory_target == null || (coalesce(var.memory_target, 50) >= 10 && coalesce(var.memory_target, 50) <= 95)
    error_message = "memory_target must be between 10 and 95 percent, or null."
  }
}

variable "custom_metric_target" {
  description = "Target tracking on a per-task CloudWatch metric published with dimensions ClusterName and ServiceName (e.g. tether_edge_connections_current); null: none."
  type = object({
    namespace    = string
    metric_name  = string
    target_value = number
  })
  default = null

  validation {
    condition     = var.custom_metric_target == null || try(var.custom_metric_target.target_value > 0, false)
    error_message = "custom_metric_target.target_value must be positive."
  }
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before the next one. Long: removing a task moves its long-lived connections."
  type        = number
  default     = 600

  validation {
    condition     = var.scale_in_cooldown >= 0 && var.scale_in_cooldown <= 3600
    error_message = "scale_in_cooldown must be between 0 and 3600 seconds."
  }
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before the next one. Short: load spikes need capacity fast."
  type        = number
  default     = 60

  validation {
    condition     = var.scale_out_cooldown >= 0 && var.scale_out_cooldown <= 3600
    error_message = "scale_out_cooldown must be between 0 and 3600 seconds."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
