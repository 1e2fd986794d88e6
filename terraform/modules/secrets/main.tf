# Secrets of one environment, KMS-encrypted, read by the ECS execution roles at task start
# (container `secrets`, never plain `environment`):
#
#   <prefix>/jwt-secret        -> TETHER_JWT_SECRET of tether-edge (HS256 key)
#   <prefix>/redis-auth-token  -> TETHER_REDIS_PASSWORD of tether-state and the ElastiCache AUTH token
#
# Initial values come from Secrets Manager's password generator. That data source yields a new
# value on every plan, so the stored values are ignored after creation: rotation happens outside
# Terraform (docs/OPERATIONS.md) and a later apply never reverts it. The initial values are in the
# Terraform state, which must therefore live in an encrypted, access-restricted bucket.

data "aws_secretsmanager_random_password" "jwt" {
  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

# ElastiCache AUTH tokens allow 16-128 printable characters except / " @ and space: letters and
# digits only keeps every client and URL parser happy.
data "aws_secretsmanager_random_password" "redis" {
  password_length     = 64
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret" "jwt" {
  #checkov:skip=CKV2_AWS_57:Rotation is an operator procedure (docs/OPERATIONS.md): edges must hold old and new key during the overlap, which a rotation Lambda cannot coordinate.
  name                    = "${var.name_prefix}/jwt-secret"
  description             = "HS256 key tether-edge verifies client JWTs with (TETHER_JWT_SECRET)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_secretsmanager_secret_version" "jwt" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = data.aws_secretsmanager_random_password.jwt.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotation uses ElastiCache's ROTATE/SET auth-token strategy, run by the operator (docs/OPERATIONS.md); a Lambda rotation would cut live connections.
  name                    = "${var.name_prefix}/redis-auth-token"
  description             = "ElastiCache AUTH token tether-state connects with (TETHER_REDIS_PASSWORD)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = data.aws_secretsmanager_random_password.redis.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}
