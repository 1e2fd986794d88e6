output "bucket_name" {
  description = "Name of the archive bucket (TETHER_S3_BUCKET)."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the archive bucket."
  value       = aws_s3_bucket.this.arn
}

output "archive_prefix" {
  description = "Key prefix of the archive (TETHER_S3_PREFIX)."
  value       = var.archive_prefix
}

output "state_access_policy_json" {
  description = "IAM policy the state service's task role needs for the archive (least privilege)."
  value       = data.aws_iam_policy_document.state_access.json
}
