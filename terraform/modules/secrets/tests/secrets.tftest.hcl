# Secrets are KMS-encrypted, recoverable after deletion, and hold generated values.

mock_provider "aws" {
  mock_data "aws_secretsmanager_random_password" {
    defaults = {
      random_password = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijABCDEFGHIJ0123"
    }
  }
}

variables {
  name_prefix = "tether/test"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "secrets_are_encrypted_with_the_customer_key" {
  command = plan

  assert {
    condition     = aws_secretsmanager_secret.jwt.kms_key_id == var.kms_key_arn && aws_secretsmanager_secret.redis_auth.kms_key_id == var.kms_key_arn
    error_message = "Both secrets must be encrypted with the environment's key"
  }
  assert {
    condition     = aws_secretsmanager_secret.jwt.name == "tether/test/jwt-secret" && aws_secretsmanager_secret.redis_auth.name == "tether/test/redis-auth-token"
    error_message = "Secret names follow <prefix>/<purpose>"
  }
  assert {
    condition     = aws_secretsmanager_secret.jwt.recovery_window_in_days == 30
    error_message = "A deleted secret stays recoverable for 30 days by default"
  }
  assert {
    condition     = length(nonsensitive(output.redis_auth_token)) >= 16 && length(nonsensitive(output.redis_auth_token)) <= 128
    error_message = "The Redis AUTH token must be 16-128 characters"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects trailing slash prefix
    name_prefix = "tether/test/"
    # rejects bad kms key arn
    kms_key_arn = "not-an-arn"
    # rejects immediate deletion
    recovery_window_in_days = 0
  }

  expect_failures = [
    var.name_prefix,
    var.kms_key_arn,
    var.recovery_window_in_days,
  ]
}
