variable "name_prefix" {
  description = "Path prefix of the secrets' names, e.g. tether/prod (secrets are <prefix>/jwt-secret and <prefix>/redis-auth-token)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,400}$", var.name_prefix)) && !endswith(var.name_prefix, "/")
    error_message = "name_prefix may hold letters, digits and /_+=.@- and must not end with '/'."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the secrets."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret stays recoverable before Secrets Manager erases it."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30
    error_message = "recovery_window_in_days must be between 7 and 30 (0, immediate deletion, is not allowed here)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
