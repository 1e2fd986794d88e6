variable "name" {
  description = "Name prefix of every security group (e.g. tether-prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 characters of lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "Existing VPC that hosts Tether (this module creates no VPC)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "public_subnet_ids needs at least two subnet ids (subnet-...) so the load balancer spans two zones."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets of the ECS tasks, Redis and Kafka, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least two subnet ids (subnet-...) for Multi-AZ Redis and tasks."
  }
}

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the load balancer on 80 (redirect) and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "egress_https_cidrs" {
  description = "Where tasks may open HTTPS connections (ECR, Secrets Manager, CloudWatch, S3): the internet through NAT, or the VPC range when VPC endpoints serve these APIs."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.egress_https_cidrs) > 0 && alltrue([for c in var.egress_https_cidrs : can(cidrhost(c, 0)) && !strcontains(c, ":")])
    error_message = "egress_https_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "edge_port" {
  description = "Port tether-edge listens on inside its task (TETHER_LISTEN)."
  type        = number
  default     = 8080

  validation {
    condition     = var.edge_port >= 1024 && var.edge_port <= 65535 && floor(var.edge_port) == var.edge_port
    error_message = "edge_port must be an unprivileged port (1024-65535): the containers run as a non-root user."
  }
}

variable "state_port" {
  description = "Port tether-state listens on inside its task (TETHER_LISTEN)."
  type        = number
  default     = 4437

  validation {
    condition     = var.state_port >= 1024 && var.state_port <= 65535 && floor(var.state_port) == var.state_port
    error_message = "state_port must be an unprivileged port (1024-65535): the containers run as a non-root user."
  }
}

variable "kafka_enabled" {
  description = "Create the security group of the optional MSK cluster (reachable from the state service only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
