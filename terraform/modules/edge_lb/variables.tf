variable "name" {
  description = "Name of the load balancer and its target group (at most 32 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2-32 lowercase letters, digits or dashes, starting with a letter (ELB's rule)."
  }
}

variable "vpc_id" {
  description = "VPC of the edge tasks."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "subnet_ids" {
  description = "Public subnets of the load balancer, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids needs at least two subnet ids (subnet-...)."
  }
}

variable "security_group_id" {
  description = "Security group of the load balancer (network module)."
  type        = string

  validation {
    condition     = can(regex("^sg-[0-9a-f]{8,17}$", var.security_group_id))
    error_message = "security_group_id must look like sg-0123abcd."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of the public hostname, served by the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:\\d{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be the ARN of an ACM certificate."
  }
}

variable "domain_name" {
  description = "Public hostname clients use (a DNS alias to the load balancer, managed elsewhere); null: the load balancer's own DNS name."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name such as stream.example.com."
  }
}

variable "idle_timeout" {
  description = "Seconds a connection may carry no data before the load balancer closes it. WebSockets live long: keep it far above the edge's 25 s ping interval."
  type        = number
  default     = 300

  validation {
    # The edge pings every 25 s; 60 s tolerates one lost ping. 4000 s is ELB's maximum.
    condition     = var.idle_timeout >= 60 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 60 and 4000 seconds (well above the edge's 25 s WebSocket ping)."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener; only TLS 1.3 policies are allowed."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-TLS13-", var.ssl_policy))
    error_message = "ssl_policy must be an ELBSecurityPolicy-TLS13-* policy."
  }
}

variable "target_port" {
  description = "Port tether-edge listens on in its task."
  type        = number
  default     = 8080

  validation {
    condition     = var.target_port >= 1024 && var.target_port <= 65535
    error_message = "target_port must be between 1024 and 65535."
  }
}

variable "health_check_path" {
  description = "Readiness path of tether-edge: 503 once it drains, so the load balancer stops sending new connections."
  type        = string
  default     = "/readyz"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with '/'."
  }
}

variable "deregistration_delay" {
  description = "Seconds a deregistering edge keeps its open connections before the load balancer closes them (the edge's drain window). Must not exceed the container's stopTimeout."
  type        = number
  default     = 90

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer through the API."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "S3 bucket for access logs (its policy must admit the ELB log delivery service); null disables access logs."
  type        = string
  default     = null

  validation {
    condition     = var.access_logs_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_logs_bucket))
    error_message = "access_logs_bucket must be a valid S3 bucket name or null."
  }
}

variable "waf_web_acl_arn" {
  description = "WAFv2 web ACL to associate with the load balancer; null: none."
  type        = string
  default     = null

  validation {
    condition     = var.waf_web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:", var.waf_web_acl_arn))
    error_message = "waf_web_acl_arn must be a WAFv2 web ACL ARN or null."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
