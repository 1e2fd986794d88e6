# The archive bucket is private, KMS-encrypted, versioned, TLS-only and expires what it should.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

# The bucket is protected by prevent_destroy, so every run stays at plan (an applied run could not
# be torn down).

variables {
  bucket_name            = "tether-test-archive"
  kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  archive_prefix         = "tether/"
  archive_retention_days = 90
}

run "bucket_is_private_and_encrypted" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this.block_public_acls &&
      aws_s3_bucket_public_access_block.this.block_public_policy &&
      aws_s3_bucket_public_access_block.this.ignore_public_acls &&
      aws_s3_bucket_public_access_block.this.restrict_public_buckets
    )
    error_message = "All four public access blocks must be on"
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)"
  }
  assert {
    condition = alltrue([
      for r in aws_s3_bucket_server_side_encryption_configuration.this.rule :
      one(r.apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(r.apply_server_side_encryption_by_default).kms_master_key_id == var.kms_key_arn &&
      r.bucket_key_enabled
    ])
    error_message = "Objects must be encrypted with the customer key (SSE-KMS) using a bucket key"
  }
  assert {
    condition     = one(aws_s3_bucket_versioning.this.versioning_configuration).status == "Enabled"
    error_message = "Versioning must be enabled"
  }
}

run "lifecycle_expires_archive_and_multipart_uploads" {
  command = plan

  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.status == "Enabled" && try(one(r.filter).prefix, null) == "tether/" && try(one(r.expiration).days, 0) == 90 &&
      try(one(r.noncurrent_version_expiration).noncurrent_days, 0) == 30
    ])
    error_message = "Archive objects must expire after archive_retention_days, old versions after 30 days"
  }
  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.this.rule :
      r.status == "Enabled" && try(one(r.abort_incomplete_multipart_upload).days_after_initiation, 0) == 7
    ])
    error_message = "Incomplete multipart uploads must be aborted after 7 days"
  }
}

run "bucket_policy_denies_plain_http" {
  command = plan

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && anytrue([for c in s.condition : c.variable == "aws:SecureTransport" && c.values == tolist(["false"])])
    ])
    error_message = "The bucket policy must deny requests without TLS (aws:SecureTransport = false)"
  }
  assert {
    condition     = aws_s3_bucket_policy.this.policy == data.aws_iam_policy_document.bucket.json
    error_message = "The TLS-only policy must be attached to the bucket"
  }
}

run "state_access_is_scoped_to_the_prefix" {
  command = plan

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.state_access.statement :
      contains(s.actions, "s3:PutObject") && alltrue([for r in s.resources : endswith(r, "/tether/*")])
    ])
    error_message = "Object access must be limited to the archive prefix"
  }
  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.state_access.statement : !contains(s.actions, "s3:*") && !contains(s.resources, "*")
    ])
    error_message = "No wildcard action or resource in the state service's archive policy"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad bucket name
    bucket_name = "Tether_Archive"
    # rejects bad kms key arn
    kms_key_arn = "alias/tether"
    # rejects prefix without trailing slash
    archive_prefix = "tether"
    # rejects zero retention
    archive_retention_days = 0
    # rejects long noncurrent retention
    noncurrent_version_expiration_days = 1000
  }

  expect_failures = [
    var.bucket_name,
    var.kms_key_arn,
    var.archive_prefix,
    var.archive_retention_days,
    var.noncurrent_version_expiration_days,
  ]
}
