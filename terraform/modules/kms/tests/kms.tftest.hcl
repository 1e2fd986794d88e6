# The environment key rotates, keeps a deletion window and is protected from deletion.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
}

variables {
  name = "tether-test"
}

run "key_rotates" {
  command = plan

  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The key must rotate"
  }
  assert {
    condition     = aws_kms_key.this.deletion_window_in_days == 30
    error_message = "The default deletion window is the longest (30 days)"
  }
  assert {
    condition     = aws_kms_alias.this.name == "alias/tether-test"
    error_message = "The alias is alias/<name>"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects reserved alias
    name = "aws-tether"
    # rejects short deletion window
    deletion_window_in_days = 3
  }

  expect_failures = [
    var.name,
    var.deletion_window_in_days,
  ]
}
