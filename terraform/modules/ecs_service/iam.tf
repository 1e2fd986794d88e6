# Two roles per service, least privilege:
#  - execution role (used by ECS to start the task): pull the image, write the service's logs,
#    read exactly this service's secrets;
#  - task role (used by the application): what task_policy_json and the sidecars grant, nothing
#    else.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Only ECS acting for this account may assume the roles (confused deputy).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-exec"
  description        = "ECS execution role of ${var.name}: image pull, logs, its own secrets"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.image_repository_arns) == 0 ? [] : [1]
    content {
      sid = "EcrAuth"
      # GetAuthorizationToken has no resource-level permissions.
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.image_repository_arns) == 0 ? [] : [1]
    content {
      sid       = "EcrPull"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = var.image_repository_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets) == 0 ? [] : [1]
    content {
      sid     = "OwnSecrets"
      actions = ["secretsmanager:GetSecretValue", "ssm:GetParameters"]
      # valueFrom may address a JSON key (ARN:key:stage:version); the grant is on the secret.
      resources = distinct([for v in values(var.secrets) : join(":", slice(split(":", v), 0, min(7, length(split(":", v)))))])
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets) == 0 ? [] : [1]
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = distinct(concat([var.kms_key_arn], var.secrets_kms_key_arns))

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com", "ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Task role of ${var.name}: what the application itself may do"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  source_policy_documents = compact(concat(
    [var.task_policy_json],
    [for s in var.sidecars : s.policy_json if s.policy_json != null],
  ))

  # A guard that keeps the policy non-empty and states an invariant: the application never
  # changes IAM, whatever else is granted above.
  statement {
    sid       = "NeverAdministerIam"
    effect    = "Deny"
    actions   = ["iam:*", "sts:AssumeRole"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "application"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
