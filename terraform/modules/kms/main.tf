# The customer-managed key of one Tether environment: it encrypts the archive bucket, Redis at
# rest, the secrets, the log groups and (when enabled) MSK. Services other than CloudWatch Logs
# use it on behalf of a principal whose IAM policy allows it (kms:ViaService), so the key policy
# only delegates to IAM and admits CloudWatch Logs for this account's log groups.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; the account root statement delegates to IAM policies (AWS's default key policy).
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only, there is nothing narrower to name.
  #checkov:skip=CKV_AWS_109:kms:* for the account root is AWS's default key policy: without it IAM policies cannot grant use of the key and the key becomes unmanageable.
  statement {
    sid       = "DelegateToIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Tether ${var.name}: archive, Redis, secrets, logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags

  lifecycle {
    # Losing the key loses every archive segment, snapshot and secret encrypted with it.
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
