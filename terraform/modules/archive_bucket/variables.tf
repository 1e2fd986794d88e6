variable "bucket_name" {
  description = "Name of the archive bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..") && !can(regex("^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and dashes."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts every archived segment (SSE-KMS with a bucket key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "archive_prefix" {
  description = "Key prefix of Tether's archive inside the bucket (TETHER_S3_PREFIX); empty for the whole bucket, else ends with '/'."
  type        = string
  default     = ""

  validation {
    condition     = var.archive_prefix == "" || can(regex("^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$", var.archive_prefix))
    error_message = "archive_prefix must be empty or a key prefix that ends with '/' and does not start with '/'."
  }
}

variable "archive_retention_days" {
  description = "Days an archived object (segment, manifest) is kept after it was written; older offsets answer 410 offset_past_retention."
  type        = number
  default     = 365

  validation {
    condition     = var.archive_retention_days >= 1 && var.archive_retention_days <= 36500 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days between 1 and 36500."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version stays recoverable (versioning protects manifests and latest pointers)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 365
    error_message = "noncurrent_version_expiration_days must be between 1 and 365."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
